"""Circle packing demo: place 26 circles in the unit square to maximise the
sum of their radii.

construct_packing() returns (centers, radii): 26 (x, y) pairs and 26 radii.
The centres come from a ring layout driven by the constants below; the radii
are then derived from the centres so that the packing is valid for any
centres (no overlap, inside the square).
"""
import math

N_CIRCLES = 26
SIDE = 1.0  # the square is [0, SIDE] x [0, SIDE]; fixed by the problem


def ring_point(angle, radius, squareness):
    """A point on a superellipse |x|^p + |y|^p = radius^p at the given angle."""
    c, s = math.cos(angle), math.sin(angle)
    p = min(max(squareness, 0.5), 50.0)
    norm = (abs(c) ** p + abs(s) ** p) ** (1.0 / p)
    return radius * c / norm, radius * s / norm


# EVOLVE-BLOCK-START
# One circle near the middle, an inner ring, and an outer ring taking the rest.
CENTRE_X = 0.5
CENTRE_Y = 0.5
INNER_COUNT = 8
INNER_RADIUS = 0.3
INNER_TURN = 0.1  # angular offset of the inner ring, in radians
OUTER_RADIUS = 0.45
OUTER_TURN = 0.1  # angular offset of the outer ring, in radians
STRETCH_X = 0.72  # horizontal scale of both rings
STRETCH_Y = 0.72  # vertical scale of both rings
SQUARENESS = 2.0  # ring shape: 2 is a circle, larger values bulge towards a square
MARGIN = 0.008  # centres are kept this far from the walls


def layout():
    """Centres of all circles: the middle one, then the inner and outer rings."""
    centers = [(CENTRE_X, CENTRE_Y)]
    inner = min(max(int(round(INNER_COUNT)), 0), N_CIRCLES - len(centers))
    outer = N_CIRCLES - len(centers) - inner
    rings = [(inner, INNER_RADIUS, INNER_TURN), (outer, OUTER_RADIUS, OUTER_TURN)]
    for count, radius, turn in rings:
        for k in range(count):
            angle = turn + math.tau * k / count
            dx, dy = ring_point(angle, radius, SQUARENESS)
            x = CENTRE_X + STRETCH_X * dx
            y = CENTRE_Y + STRETCH_Y * dy
            centers.append((min(max(x, MARGIN), SIDE - MARGIN),
                            min(max(y, MARGIN), SIDE - MARGIN)))
    return centers


def compute_radii(centers):
    """Largest radii the walls allow, then shrink each overlapping pair
    proportionally. Radii only ever shrink, so every pair stays separated
    once fixed and the result is valid for any centres inside the square."""
    radii = [min(x, y, SIDE - x, SIDE - y) for x, y in centers]
    for i, (xi, yi) in enumerate(centers):
        for j, (xj, yj) in enumerate(centers[:i]):
            d = math.hypot(xi - xj, yi - yj)
            if radii[i] + radii[j] > d:
                scale = d / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    return radii
# EVOLVE-BLOCK-END


def construct_packing():
    """The packing: centres clamped into the square, radii from compute_radii."""
    centers = [(min(max(float(x), 0.0), SIDE), min(max(float(y), 0.0), SIDE))
               for x, y in layout()]
    return centers, compute_radii(centers)


if __name__ == "__main__":
    centers, radii = construct_packing()
    print(f"sum of radii: {sum(radii):.6f}")
