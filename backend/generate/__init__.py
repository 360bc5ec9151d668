"""The generation layer: the steps every generator shares (plan, skip finished, shard and bundle,
draw with redraws, post-process the mask, score gates, store with provenance, record speed),
behind the small :class:`backend.generate.base.Generator` protocol. A generator (inpainting,
mask-guided synthesis) says only which region is generated, what is known, which set its
samples go to and what their provenance adds (issue 29)."""
