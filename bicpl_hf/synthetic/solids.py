"""Analytic solids and the canvas that paints them into a CT volume with partial-volume edges.

Every solid has a signed distance in mm (negative inside). A [`Canvas`] paints solids into a
`(z, y, x)` HU array with an anti-aliased edge one voxel wide: an analytic partial-volume effect, so
sub-voxel structures (canal lumens, mastoid septa, ossicle processes) show up as faint partial
densities instead of flickering in and out of the grid. A canvas sees the volume through one frame
(head frame, or a possibly mirrored ear frame), so the same solids serve both ears.

Example::

    hu = np.full((8, 16, 16), -1000, np.float32)
    canvas = Canvas(hu, origin=(-8, -8, -4), spacing=(1, 1, 1), world_to_frame=np.eye(3, 4))
    canvas.paint(Union(Sphere((0, 0, 0), 3.0), Tube([(0, 0, 0), (6, 0, 0)], 1.0)), 40.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


def _col(v: np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(v, dtype=np.float32).reshape((3,) + (1,) * (ndim - 1))


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def frame_from_normal(normal) -> np.ndarray:
    """Rows (n, u, v): an orthonormal frame whose first axis is `normal`."""
    n = unit(normal)
    helper = np.array([0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = unit(np.cross(n, helper))
    return np.stack([n, u, np.cross(n, u)])


_UNBOUNDED = (np.full(3, -np.inf), np.full(3, np.inf))


class Shape:
    """A solid: `sdf(p)` is the signed distance (mm, < 0 inside) of points `p` of shape (3, ...).

    `bounds` = (lo, hi) is an axis-aligned box (frame mm) around it, so a canvas only evaluates the
    voxels a solid can touch.
    """

    bounds: tuple[np.ndarray, np.ndarray] = _UNBOUNDED

    @property
    def centre(self) -> np.ndarray:
        return (self.bounds[0] + self.bounds[1]) / 2

    def sdf(self, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Ellipsoid(Shape):
    """Ellipsoid with semi-axes `semi` along the rows of `axes` (identity when omitted).

    Example: `Ellipsoid((0, 0, 0), (2, 3, 4)).sdf(np.zeros((3, 1)))` is about `-2`.
    """

    def __init__(self, centre, semi, axes=None):
        self.point = np.asarray(centre, dtype=np.float64)
        self.semi = np.asarray(semi, dtype=np.float64)
        self.axes = None if axes is None else np.asarray(axes, dtype=np.float64)
        half = self.semi if self.axes is None else np.sqrt(((self.axes * self.semi[:, None]) ** 2).sum(0))
        self.bounds = (self.point - half, self.point + half)

    def sdf(self, p):
        q = p - _col(self.point, p.ndim)
        if self.axes is not None:
            q = np.tensordot(self.axes.astype(np.float32), q, axes=1)
        s = _col(self.semi, p.ndim)
        k0 = np.sqrt(((q / s) ** 2).sum(0))
        k1 = np.sqrt(((q / (s * s)) ** 2).sum(0))
        # Quilez's first-order ellipsoid distance: exact on the surface, good near it.
        return np.where(k1 > 1e-6, k0 * (k0 - 1.0) / np.maximum(k1, 1e-6), -float(self.semi.min()))


class Sphere(Shape):
    def __init__(self, centre, radius: float):
        self.point, self.radius = np.asarray(centre, dtype=np.float64), float(radius)
        self.bounds = (self.point - self.radius, self.point + self.radius)

    def sdf(self, p):
        return np.sqrt(((p - _col(self.point, p.ndim)) ** 2).sum(0)) - self.radius


class Tube(Shape):
    """A polyline swept by a sphere whose radius varies linearly between vertices."""

    def __init__(self, points, radii):
        self.points = np.asarray(points, dtype=np.float64)
        radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(self.points),))
        self.radii = radii.copy()
        self.bounds = (self.points.min(0) - self.radii.max(), self.points.max(0) + self.radii.max())

    def sdf(self, p):
        best = None
        for a, b, ra, rb in zip(self.points[:-1], self.points[1:], self.radii[:-1], self.radii[1:]):
            ba = (b - a).astype(np.float32)
            pa = p - _col(a, p.ndim)
            h = np.clip(np.tensordot(ba, pa, axes=1) / float(ba @ ba), 0.0, 1.0)
            d = np.sqrt(((pa - h[None] * _col(ba, p.ndim)) ** 2).sum(0)) - (ra + h * (rb - ra))
            best = d if best is None else np.minimum(best, d)
        return best


class Torus(Shape):
    """Ring of major radius `major` in the plane through `centre` normal to `normal`."""

    def __init__(self, centre, normal, major: float, minor: float):
        self.point = np.asarray(centre, dtype=np.float64)
        self.normal = unit(normal)
        self.major, self.minor = float(major), float(minor)
        half = self.major * np.sqrt(np.maximum(1 - self.normal**2, 0)) + self.minor
        self.bounds = (self.point - half, self.point + half)

    def sdf(self, p):
        q = p - _col(self.point, p.ndim)
        h = np.tensordot(self.normal.astype(np.float32), q, axes=1)
        rho = np.sqrt(np.maximum((q**2).sum(0) - h * h, 0.0))
        return np.sqrt((rho - self.major) ** 2 + h * h) - self.minor


class Spiral(Shape):
    """A tapering tube wound `turns` times around `axis` (the cochlear duct), rising `height`."""

    def __init__(self, base, axis, start, turns, radii, height, tube_radii):
        self.base = np.asarray(base, dtype=np.float64)
        frame = frame_from_normal(axis)
        e1 = unit(np.asarray(start, dtype=np.float64) - (np.asarray(start) @ frame[0]) * frame[0])
        self.frame = np.stack([frame[0], e1, np.cross(frame[0], e1)])
        self.turns, self.height = float(turns), float(height)
        self.r_outer, self.r_inner = radii
        self.tube_base, self.tube_apex = tube_radii
        half = self.r_outer + self.tube_base + self.height
        self.bounds = (self.base - half, self.base + half)

    def sdf(self, p):
        q = np.tensordot(self.frame.astype(np.float32), p - _col(self.base, p.ndim), axes=1)
        h, rho = q[0], np.sqrt(q[1] ** 2 + q[2] ** 2)
        theta = np.mod(np.arctan2(q[2], q[1]), 2 * np.pi)
        best = np.full(h.shape, np.inf, dtype=np.float32)
        for k in range(int(math.ceil(self.turns))):
            t = (theta + 2 * np.pi * k) / (2 * np.pi * self.turns)
            ring = self.r_outer + (self.r_inner - self.r_outer) * t
            tube = self.tube_base + (self.tube_apex - self.tube_base) * t
            d = np.sqrt((rho - ring) ** 2 + (h - self.height * t) ** 2) - tube
            best = np.where(t <= 1.0, np.minimum(best, d), best)
        return best


class HalfSpace(Shape):
    """Points behind the plane through `point`; `normal` points out of the solid."""

    def __init__(self, point, normal):
        self.point, self.normal = np.asarray(point, dtype=np.float64), unit(normal)

    def sdf(self, p):
        return np.tensordot(self.normal.astype(np.float32), p - _col(self.point, p.ndim), axes=1)


class Union(Shape):
    def __init__(self, *shapes: Shape):
        self.shapes = shapes
        self.bounds = (np.min([s.bounds[0] for s in shapes], 0), np.max([s.bounds[1] for s in shapes], 0))

    def sdf(self, p):
        return np.minimum.reduce([s.sdf(p) for s in self.shapes])


class Intersection(Shape):
    def __init__(self, *shapes: Shape):
        self.shapes = shapes
        self.bounds = (np.max([s.bounds[0] for s in shapes], 0), np.min([s.bounds[1] for s in shapes], 0))

    def sdf(self, p):
        return np.maximum.reduce([s.sdf(p) for s in self.shapes])


class Difference(Shape):
    def __init__(self, keep: Shape, cut: Shape):
        self.keep, self.cut = keep, cut
        self.bounds = keep.bounds

    def sdf(self, p):
        return np.maximum(self.keep.sdf(p), -self.cut.sdf(p))


class Offset(Shape):
    """`shape` grown by `delta` mm (shrunk when negative)."""

    def __init__(self, shape: Shape, delta: float):
        self.shape, self.delta = shape, float(delta)
        grow = max(self.delta, 0.0)
        self.bounds = (shape.bounds[0] - grow, shape.bounds[1] + grow)

    def sdf(self, p):
        return self.shape.sdf(p) - self.delta


class Shell(Shape):
    """The inner band of `shape` that is `thickness` mm deep (a lining along its walls)."""

    def __init__(self, shape: Shape, thickness: float):
        self.shape, self.thickness = shape, float(thickness)
        self.bounds = shape.bounds

    def sdf(self, p):
        d = self.shape.sdf(p)
        return np.maximum(d, -(d + self.thickness))


class AirCells(Shape):
    """Honeycomb of cells (Voronoi regions of `seeds`) separated by septa inside `region`.

    No point is farther than `max_radius` from its seed, so sparse seeds give isolated round cells
    instead of a few huge Voronoi regions.
    """

    def __init__(self, region: Shape, seeds: np.ndarray, septum: float, max_radius: float = math.inf):
        self.region, self.seeds, self.septum = region, np.asarray(seeds, dtype=np.float64), float(septum)
        self.max_radius = float(max_radius)
        self.bounds = region.bounds
        self._tree = cKDTree(self.seeds) if len(self.seeds) >= 2 else None

    def sdf(self, p):
        d = self.region.sdf(p)
        if self._tree is None:
            return np.maximum(d, self.septum)  # fewer than two cells: solid bone
        near = d < 1.0
        pts = p.reshape(3, -1)[:, near.ravel()].T
        dist, _ = self._tree.query(pts, k=2)
        cell = np.maximum(self.septum / 2 - (dist[:, 1] - dist[:, 0]) / 2, dist[:, 0] - self.max_radius)
        out = d.copy()
        out[near] = np.maximum(d[near], cell.astype(np.float32))
        return out


# ----------------------------------------------------------------------------- canvas


@dataclass
class PaintStats:
    """Partial-volume-weighted volume (mm^3) and centroid (world mm) of what one paint call touched."""

    volume_mm3: float
    centroid_world: tuple[float, float, float] | None


class Canvas:
    """A `(z, y, x)` HU volume seen through one frame; paints solids with partial-volume edges.

    `world_to_frame` is a (3, 4) rigid (possibly mirrored) affine; frame coordinates are further
    divided by `scale` (an ear template drawn `scale` times larger in the world).

    Example::

        hu = np.full((8, 16, 16), -1000, np.float32)
        canvas = Canvas(hu, origin=(-8, -8, -4), spacing=(1, 1, 1), world_to_frame=np.eye(3, 4))
        canvas.paint(Sphere((0, 0, 0), 3.0), 40.0)
    """

    def __init__(self, hu, origin, spacing, world_to_frame, scale: float = 1.0, chunk_voxels: int = 1 << 22):
        if not isinstance(hu, np.ndarray) or hu.ndim != 3 or hu.dtype != np.float32:
            raise TypeError(f"Canvas needs a 3-D float32 (z, y, x) array, got {type(hu).__name__} "
                            f"{getattr(hu, 'dtype', '')} {getattr(hu, 'shape', '')}")
        if np.asarray(world_to_frame).shape != (3, 4):
            raise ValueError(f"world_to_frame must be a (3, 4) affine, got shape {np.asarray(world_to_frame).shape}")
        self.hu = hu
        self.origin = np.asarray(origin, dtype=np.float64)
        self.spacing = np.asarray(spacing, dtype=np.float64)
        self.matrix = np.asarray(world_to_frame, dtype=np.float64)[:, :3]
        self.offset = np.asarray(world_to_frame, dtype=np.float64)[:, 3]
        self.scale = float(scale)
        self._step = (self.matrix * self.spacing[None, :] / self.scale).astype(np.float32)
        self._start = ((self.matrix @ self.origin + self.offset) / self.scale).astype(np.float32)
        self.edge = float(np.mean(self.spacing)) / self.scale
        self.chunk_voxels = int(chunk_voxels)

    def frame_to_world(self, point) -> np.ndarray:
        return self.matrix.T @ (np.asarray(point, dtype=np.float64) * self.scale - self.offset)

    def world_direction_in_frame(self, direction) -> np.ndarray:
        return self.matrix @ unit(direction)

    def _box(self, shape: Shape):
        nz, ny, nx = self.hu.shape
        lo, hi = shape.bounds
        if np.any(hi < lo):
            return None
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            return (0, nx), (0, ny), (0, nz)
        corners = np.array([[(lo, hi)[b >> k & 1][k] for k in range(3)] for b in range(8)])
        idx = np.array([(self.frame_to_world(c) - self.origin) / self.spacing for c in corners])
        start = np.maximum(np.floor(idx.min(0)) - 1, 0).astype(int)
        stop = np.minimum(np.ceil(idx.max(0)) + 2, [nx, ny, nz]).astype(int)
        if np.any(stop <= start):
            return None
        return tuple(zip(start.tolist(), stop.tolist()))

    def _chunks(self, shape: Shape):
        box = self._box(shape)
        if box is None:
            return
        (x0, x1), (y0, y1), (z0, z1) = box
        k = np.arange(x0, x1, dtype=np.float32)[None, None, :]
        j = np.arange(y0, y1, dtype=np.float32)[None, :, None]
        step = max(1, self.chunk_voxels // ((x1 - x0) * (y1 - y0)))
        for za in range(z0, z1, step):
            zb = min(z1, za + step)
            i = np.arange(za, zb, dtype=np.float32)[:, None, None]
            a, b = self._step, self._start
            p = np.stack([a[c, 0] * k + a[c, 1] * j + a[c, 2] * i + b[c] for c in range(3)])
            yield (slice(za, zb), slice(y0, y1), slice(x0, x1)), p, (k, j, i)

    def paint(self, shape: Shape, value: float, weight=None, measure: bool = False) -> PaintStats | None:
        """Blend `value` (HU) into the voxels inside `shape` by their partial-volume fraction.

        `weight(current_hu) -> [0, 1]` limits the paint (e.g. only fill voxels that are air now).
        With `measure` the painted volume and centroid are returned.
        """
        total, moment = 0.0, np.zeros(3)
        for sl, p, (k, j, i) in self._chunks(shape):
            frac = np.clip(0.5 - shape.sdf(p) / self.edge, 0.0, 1.0).astype(np.float32)
            view = self.hu[sl]
            if weight is not None:
                frac *= weight(view)
            view += frac * (np.float32(value) - view)
            if measure:
                total += float(frac.sum())
                moment += [float((frac * k).sum()), float((frac * j).sum()), float((frac * i).sum())]
        if not measure:
            return None
        centroid = None if total <= 0 else tuple((self.origin + self.spacing * moment / total).tolist())
        return PaintStats(volume_mm3=total * float(np.prod(self.spacing)), centroid_world=centroid)

    def paint_layers(self, fields, layers) -> None:
        """Paint nested unbounded solids in one pass, sharing expensive per-voxel `fields`.

        `fields(p) -> dict` of arrays; `layers` is a sequence of `(sdf_from_fields, value)`.
        """
        for sl, p, _ in self._chunks(Shape()):
            shared = fields(p)
            view = self.hu[sl]
            for sdf, value in layers:
                frac = np.clip(0.5 - sdf(shared) / self.edge, 0.0, 1.0)
                view += frac * (np.float32(value) - view)

    def inside_points(self, shape: Shape) -> np.ndarray:
        """Frame coordinates (N, 3) of the voxel centres inside `shape`."""
        found = [p.reshape(3, -1)[:, (shape.sdf(p) < 0).ravel()].T for _, p, _ in self._chunks(shape)]
        return np.concatenate(found) if found else np.zeros((0, 3), dtype=np.float32)


def air_weight(hu: np.ndarray) -> np.ndarray:
    """1 for air, 0 for soft tissue and bone: lets a fill replace only what is air now."""
    return np.clip((-150.0 - hu) / 500.0, 0.0, 1.0)
