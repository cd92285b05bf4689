"""A tiny Qwen2.5-VL with random weights and a locally built tokenizer, for tests and the quickstart.

Nothing here touches a model hub: the architecture comes from a config, the weights from
a seeded initialisation, the tokenizer from a byte-level BPE trained on a fixed built-in
corpus, the chat template is our own Jinja. The result is a complete HF model directory
that `AutoProcessor.from_pretrained` and `AutoModelForImageTextToText.from_pretrained`
load, and that generates on CPU with an image in well under a second.

Why Qwen2.5-VL: it is Thyme's base model, so the SFT and RL stages exercise the very
code path (mRoPE, windowed ViT, patch merger) they will run on GPUs.

Tokens. The chat and vision tokens (`<|im_start|>`, `<|im_end|>`, `<|vision_start|>`,
`<|vision_end|>`, `<|image_pad|>`, ...) are special added tokens, as in Qwen's tokenizer.
Thyme's tags (`<think>`, `</think>`, `<answer>`, `</answer>`, `<code>`, `</code>`,
`<sandbox_output>`, `</sandbox_output>`) are *non-special* added tokens: each is one id,
so a stop on `</code>` is one token, yet they survive `decode(skip_special_tokens=True)`
as text. (Qwen's real tokenizer splits them into pieces; the SFT masking works on
characters, so both behave the same there.)

Determinism: the same seed gives byte-identical weights and the same tokenizer files
(the BPE corpus is fixed and the trainer is deterministic).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
THYME_TAGS = [
    "<think>", "</think>", "<answer>", "</answer>", "<code>", "</code>",
    "<sandbox_output>", "</sandbox_output>",
]

# Our own chat template, shaped like Qwen's so the same prompts render the same way:
# a turn is <|im_start|>role\n ... <|im_end|>\n; an image item is the vision block.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or 'image' in item -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Text the BPE merges are learned from: the shapes of Thyme prompts and responses, so common
# words and code fragments become single tokens and rows stay a few hundred tokens long.
_CORPUS = [
    "What is the color of the object in the image? Answer with a single word.",
    "### User Image Path:** \"/data/images/00000001_00.jpg\"\n### User Image Size:** \"56x56\"",
    "### **Output Format (strict adherence required):**\n\n<think>...</think>\n<answer>...</answer>",
    "The text is too small to read, so I will crop the region and enlarge it.",
    "```python\nfrom PIL import Image\nimage = Image.open(image_path)\nw, h = image.size\n"
    "cropped = image.crop((x1, y1, x2, y2)).resize((w * 2, h * 2))\n"
    "processed_path = '/mnt/data/temp_processed_images/crop_0001.jpg'\ncropped.save(processed_path)\n"
    "print(processed_path)\n```",
    "```python\nimport math\nresult = math.sqrt(2) * 3 / 4\nprint(round(result, 4))\n```",
    "The cropped image shows the sign clearly. The answer is the red car on the left.",
    "Let me rotate the image by 90 degrees and increase the contrast to read the label.",
    "the a an of to in is it that this for on with as by at from and or not be are was",
    "0 1 2 3 4 5 6 7 8 9 10 100 0.5 0.6666 x y w h width height left right top bottom",
]


def build(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write a complete tiny Qwen2.5-VL model directory to `out_dir` and return its path."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor = build_processor()
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            rope_theta=10000.0, tie_word_embeddings=True,
            # mRoPE splits each head's 8 rotary frequency pairs over (time, height, width)
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
            fullatt_block_indexes=[1], in_channels=3,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "thyme_tiny.json").write_text(json.dumps({"seed": seed, "builder": "thyme_jobs.tinymodel"}) + "\n")
    return out


def build_processor(min_pixels: int = 56 * 56, max_pixels: int = 224 * 224):
    """The processor over the locally built tokenizer (no files read).

    A PIL-backend Qwen2-VL image processor (no torchvision needed): 14 px patches, 2x2
    merged, so a 56x56 image is 4 visual tokens; `max_pixels` keeps test images small.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from thyme_jobs.modelio.processor import ImageTextProcessor

    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=14, temporal_patch_size=2, merge_size=2)
    return ImageTextProcessor(build_tokenizer(), image_processor, CHAT_TEMPLATE)


def build_tokenizer(vocab_size: int = 1024):
    """A byte-level BPE learned from `_CORPUS`, with Qwen's special tokens and Thyme's tags."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(_CORPUS, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None,
        additional_special_tokens=SPECIAL_TOKENS[3:], padding_side="right", clean_up_tokenization_spaces=False)
    tok.add_tokens(THYME_TAGS)  # non-special: one id each, kept by decode(skip_special_tokens=True)
    tok.chat_template = CHAT_TEMPLATE
    return tok
