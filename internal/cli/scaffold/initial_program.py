"""The program git evolve improves. Only the lines between the EVOLVE-BLOCK
markers may be changed by the Researcher."""

# EVOLVE-BLOCK-START
A = 1.0
B = 0.5
C = 0.0


def predict(x):
    return A * x * x + B * x + C
# EVOLVE-BLOCK-END
