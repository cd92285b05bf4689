"""Tiny random-weight tool models, built from configs with locally made processors.

For tests and the CPU example: nothing touches a model hub. Each builder writes a
complete HF model directory that the matching tool loads as it would load the real
weights (`AutoProcessor` / `AutoModel...` / `SamModel`), small enough to answer a call
on CPU in well under a second. The answers are random, the code paths are the real ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# A few words a chart question names, so GroundingDINO captions become real tokens.
_WORDS = ["the", "a", "red", "blue", "green", "bar", "line", "chart", "title", "legend", "axis", "label", "point",
          "cat", "dog", "car", "person", "text", "box", "tallest", "left", "right", "top", "bottom", "."]


def build_grounding_dino(out_dir: str | os.PathLike, *, seed: int = 0, image_size: int = 128) -> Path:
    """GroundingDINO (Swin + BERT) with 1-layer everything; images resized to `image_size` px."""
    import torch
    from transformers import BertConfig, BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection, \
        GroundingDinoProcessor, SwinConfig
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import GroundingDinoImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS])}
    tokenizer = BertTokenizer(vocab=vocab)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": image_size, "longest_edge": image_size})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                                   image_size=image_size, out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=16, num_feature_levels=3, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32, init_std=0.02,
    )
    torch.manual_seed(seed)
    GroundingDinoForObjectDetection(config).eval().save_pretrained(out)
    processor.save_pretrained(out)
    _stamp(out, "grounding_dino", seed)
    return out


def build_sam(out_dir: str | os.PathLike, *, seed: int = 0, image_size: int = 64) -> Path:
    """SAM with a 2-layer 32-wide ViT; images resized and padded to `image_size` px."""
    import torch
    from transformers import SamConfig, SamMaskDecoderConfig, SamModel, SamProcessor, SamPromptEncoderConfig, \
        SamVisionConfig
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    patch = 8
    config = SamConfig(
        vision_config=SamVisionConfig(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2,
                                      image_size=image_size, patch_size=patch, mlp_dim=64, global_attn_indexes=[1],
                                      window_size=4, num_pos_feats=16),
        prompt_encoder_config=SamPromptEncoderConfig(hidden_size=32, image_size=image_size, patch_size=patch,
                                                     mask_input_channels=4),
        mask_decoder_config=SamMaskDecoderConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                 mlp_dim=64, iou_head_hidden_dim=32),
    )
    torch.manual_seed(seed)
    SamModel(config).eval().save_pretrained(out)
    image_processor = SamImageProcessorPil(size={"longest_edge": image_size}, pad_size={"height": image_size,
                                                                                        "width": image_size},
                                           mask_size={"longest_edge": image_size // 4},
                                           mask_pad_size={"height": image_size // 4, "width": image_size // 4})
    SamProcessor(image_processor=image_processor).save_pretrained(out)
    _stamp(out, "sam", seed)
    return out


def _stamp(out: Path, kind: str, seed: int) -> None:
    (out / "thyme_tiny.json").write_text(json.dumps({"seed": seed, "kind": kind, "builder": "thyme_tools.models.tiny"})
                                         + "\n")
