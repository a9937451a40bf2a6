# Paper experiments as named targets (He et al. 2020; Li et al. 2020).
# Filled in by the experiments work; see config/experiments/.
