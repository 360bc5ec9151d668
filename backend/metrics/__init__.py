"""Metrics: FID (clean-fid), MS-SSIM diversity (pytorch-msssim), agreement statistics (kappa)."""
