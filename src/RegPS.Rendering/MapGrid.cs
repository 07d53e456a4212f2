using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Transforms;

namespace RegPS.Rendering;

/// <summary>
/// What <see cref="DeformationGrid"/> draws for a registration result, in millimetres: the displacement of every point
/// of one plane of the display grid (<see cref="Reorient.DisplayGrid"/>: anatomical axes, cubic voxels, as
/// Export-StereoOverlay shows the same slice), sampled in world coordinates and expressed in display voxels along the
/// plane's two axes. For a DiffeomorphicMap the displacement is its field (forward f, or backward g), the deformation
/// beyond the prealign; for an AffineMap it is the whole map, A(y) - y, so an affine result draws as a sheared,
/// turned or shifted lattice. The out-of-plane component is not drawn.
/// </summary>
public static class MapGrid
{
    /// <summary>The plane grid to draw on and the in-plane displacements (display voxels, plane layout).</summary>
    /// <param name="domain">The map's static grid.</param>
    /// <param name="displacement">World point (mm) to its displacement (mm).</param>
    /// <param name="axis">For 3D: the anatomical plane (the display grid's voxel axes are closest to R, A, S).</param>
    /// <param name="slice">For 3D: the slice of the display grid (null: the middle).</param>
    public static (Grid Plane, float[] Across, float[] Up) Sample(Grid domain, Func<double, double, double, (double X, double Y, double Z)> displacement,
        SliceAxis axis, int? slice)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(displacement);
        var display = Reorient.DisplayGrid(domain);
        Grid plane;
        int across, up;
        if (display.Dimension == 2)
        {
            plane = display;
            (across, up) = (0, 1);
        }
        else
        {
            plane = Slices.PlaneGrid(display, axis, slice);
            (across, up, _) = Slices.Axes(axis);
        }
        var w2g = display.WorldToGrid;
        int nx = plane.NX, ny = plane.NY;
        var dx = new float[nx * ny];
        var dy = new float[nx * ny];
        var g2w = plane.GridToWorld;
        Span<double> voxel = stackalloc double[3];
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
            {
                var (px, py, pz) = g2w.Apply(x, y, 0);
                var (ux, uy, uz) = displacement(px, py, pz);
                if (display.Dimension == 2) uz = 0;
                // A displacement is a vector: only the linear part of world -> grid applies.
                var (vi, vj, vk) = w2g.ApplyLinear(ux, uy, uz);
                voxel[0] = vi; voxel[1] = vj; voxel[2] = vk;
                dx[y * nx + x] = (float)voxel[across];
                dy[y * nx + x] = (float)voxel[up];
            }
        return (plane, dx, dy);
    }

    /// <summary>The displacement an AffineMap applies to a static-world point: A(y) - y.</summary>
    public static Func<double, double, double, (double, double, double)> Of(AffineMap map)
    {
        var a = map.Affine;
        return (x, y, z) => { var (u, v, w) = a.Apply(x, y, z); return (u - x, v - y, w - z); };
    }

    /// <summary>The displacement of a DiffeomorphicMap's forward field f (or backward field g), sampled linearly in world mm.</summary>
    public static Func<double, double, double, (double, double, double)> Of(DiffeomorphicMap map, bool backward = false)
    {
        var step = new DisplacementFieldStep(backward ? map.Backward : map.Forward);
        return (x, y, z) => { var (u, v, w) = step.Apply(x, y, z); return (u - x, v - y, w - z); };
    }
}
