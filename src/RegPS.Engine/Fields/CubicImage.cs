using RegPS.Engine.Filters;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Fields;

/// <summary>
/// An image prepared for <see cref="FieldWarp.WarpCubic"/>: its samples (the zero-padded trilinear rule beyond the box
/// [0, n-1] reads them) and its cubic B-spline coefficients (<see cref="BSplinePrefilter.Coefficients"/>). A 3D image's
/// coefficients are stored padded with their mirrored taps, one plane before and two after on every axis (the
/// whole-sample mirror of the prefilter and of <see cref="Metrics.CubicBSpline3"/>: index -1 holds index 1, n holds
/// n - 2, n + 1 holds n - 3), so that every point of the box reads its 4x4x4 taps from one block, without tests.
/// A 2D image keeps its coefficients unpadded.
/// </summary>
internal sealed class CubicImage
{
    private CubicImage(Grid grid, float[] samples, float[] coefficients, int paddedNX, int paddedNY)
    {
        Grid = grid; Samples = samples; Coefficients = coefficients; PaddedNX = paddedNX; PaddedNY = paddedNY;
    }

    public Grid Grid { get; }

    public float[] Samples { get; }

    /// <summary>2D: the coefficients; 3D: padded, <see cref="PaddedNX"/> per row and PaddedNX x <see cref="PaddedNY"/> per slice, voxel (i, j, k) at padded (i + 1, j + 1, k + 1).</summary>
    public float[] Coefficients { get; }

    public int PaddedNX { get; }

    public int PaddedNY { get; }

    /// <summary>The coefficients of samples on grid (x fastest), padded in 3D.</summary>
    public static CubicImage Create(float[] samples, Grid grid, int maxDegree)
    {
        int nx = grid.NX, ny = grid.NY, nz = grid.NZ;
        var coef = BSplinePrefilter.Coefficients(samples, nx, ny, nz, maxDegree);
        if (grid.Dimension == 2) return new CubicImage(grid, samples, coef, nx, ny);
        int px = nx + 3, py = ny + 3, pz = nz + 3;
        var padded = new float[(long)px * py * pz];
        SliceIterator.Run(pz, new PadSlices(coef, padded, nx, ny, nz), maxDegree);
        return new CubicImage(grid, samples, padded, px, py);
    }

    /// <summary>Whole-sample mirror of index i (from -1 to n + 1) into [0, n - 1], as <see cref="Metrics.CubicBSpline3"/>'s taps.</summary>
    internal static int Mirror(int i, int n)
    {
        if (n == 1) return 0;
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
        return Math.Clamp(i, 0, n - 1);
    }

    private readonly struct PadSlices(float[] coef, float[] padded, int nx, int ny, int nz) : IRowOperation
    {
        public void Invoke(int pk)
        {
            int px = nx + 3, py = ny + 3;
            int k = Mirror(pk - 1, nz);
            for (int pj = 0; pj < py; pj++)
            {
                int j = Mirror(pj - 1, ny);
                long src = ((long)k * ny + j) * nx, dst = ((long)pk * py + pj) * px;
                padded[dst] = coef[src + Mirror(-1, nx)];
                Array.Copy(coef, src, padded, dst + 1, nx);
                padded[dst + nx + 1] = coef[src + Mirror(nx, nx)];
                padded[dst + nx + 2] = coef[src + Mirror(nx + 1, nx)];
            }
        }
    }
}
