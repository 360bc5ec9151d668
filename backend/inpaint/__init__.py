"""RePaint inpainting of the dilated polyp region, its parameters, and the quality gates every generated sample is scored with."""
