"""Image-set metrics: FID (clean-fid) and MS-SSIM diversity (pytorch-msssim)."""
