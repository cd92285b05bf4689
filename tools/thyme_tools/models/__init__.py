"""The model-backed tools: weights from the artifact store, models through transformers.

The only part of `thyme_tools` that imports torch or transformers. Which library each
tool uses:
- `grounding_dino`: transformers' GroundingDINO (`GroundingDinoForObjectDetection`).
- `SegmentRegionAroundPoint`: transformers' SAM (`SamModel`, tested here with a tiny
  random one); a SAM 2 directory (`model_type: sam2`) loads through `Sam2Model`, whose
  processor needs torchvision: the trainer image has it (GPU tools run there), the CPU
  test environment does not, so that branch is untested here.
- `Point`: any image-text-to-text model transformers loads, prompted as OpenThinkIMG
  prompts Molmo ("Point to the {param} in the scene."), its answer returned as it is;
  Molmo itself is remote code, which loads when its directory carries that code.
- `OCR`: OpenThinkIMG uses EasyOCR, whose detector and recogniser live outside
  transformers and download their weights at first use; here an image-text-to-text
  model from the store reads the text (GOT-OCR2, Florence-2, Qwen2.5-VL, ...), and its
  lines come back as the Python list string EasyOCR's worker answered with.
"""
