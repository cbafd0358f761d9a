"""A from-scratch NumPy engine: Operation -> ParamOperation -> Layer -> Model, losses, optimizers."""
