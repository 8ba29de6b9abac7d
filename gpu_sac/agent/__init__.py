"""The SAC agent: its networks (`networks`, with C51 critics in `distributional`), its losses
(`losses`), one fused update step over a batch (`learner`), the policy that acts (`policy`) and the
running observation statistics (`normalizer`). Pure functions over parameter pytrees; nothing here
knows an env, a replay layout or a device mesh."""
