using System.Numerics;
using System.Runtime.CompilerServices;
using RegPS.Engine.Filters;
using RegPS.Engine.Images;
using RegPS.Engine.Metrics;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Fields;

/// <summary>
/// An image prepared for <see cref="FieldWarp.WarpCubic"/>: its samples (the zero-padded trilinear rule beyond the box
/// [0, n-1] reads them) and its cubic B-spline coefficients (<see cref="BSplinePrefilter.Coefficients"/>). A 3D image's
/// coefficients are stored padded with their mirrored taps, one plane before and two after on every axis (the
/// whole-sample mirror of the prefilter and of <see cref="CubicBSpline3"/>: index -1 holds index 1, n holds
/// n - 2, n + 1 holds n - 3), so that every point of the box reads its 4x4x4 taps from one block, without tests, and
/// coefficients below <see cref="FlushThreshold"/> stored as zero. A 2D image keeps its coefficients as they are.
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
        SliceIterator.Run(pz, new PadSlices(coef, padded, nx, ny, nz, FlushThreshold(samples, maxDegree)), maxDegree);
        return new CubicImage(grid, samples, padded, px, py);
    }

    /// <summary>
    /// 2^-40 (about 1e-12) of the largest sample magnitude, at least float's smallest normal (2^-126): coefficients
    /// below it are stored as zero. The prefilter's recursions leave tails wherever a line runs from the head into a zero
    /// background, decaying by the pole's factor 0.27 per voxel down through float's subnormal range (below 1.2e-38),
    /// and x64 takes about a hundred cycles for an operation whose input or result is subnormal: on a real T1 (2x2x3 mm)
    /// 6% of the coefficients were subnormal and 3% of the warped values came out subnormal from the smallest normal
    /// ones, and the warp took 47-61 ms on one core where it takes 35 without them. Every interpolated value is a sum of
    /// coefficients with weights that sum to 1, so it moves by less than 2^-40 of the largest sample, 2^-16 of a float
    /// step at that sample.
    /// </summary>
    internal static float FlushThreshold(float[] samples, int maxDegree)
    {
        const int chunk = 1 << 16;
        int chunks = (samples.Length + chunk - 1) / chunk;
        var maxima = new float[chunks];
        SliceIterator.Run(chunks, new MaxChunks(samples, chunk, maxima), maxDegree);
        float max = 0;
        foreach (var m in maxima) if (m > max) max = m;
        return float.IsFinite(max) ? Math.Max(max * 9.094947e-13f, 1.17549435e-38f) : 1.17549435e-38f;
    }

    private readonly struct MaxChunks(float[] a, int chunk, float[] maxima) : IRowOperation
    {
        // run once or twice per registration: compiled optimised at once (tiered compilation would start it unoptimised)
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int c)
        {
            int start = c * chunk, end = Math.Min(a.Length, start + chunk);
            var span = a.AsSpan(start, end - start);
            float m = 0;
            int i = 0;
            if (Vector.IsHardwareAccelerated && span.Length >= Vector<float>.Count)
            {
                var vm = Vector<float>.Zero;
                for (; i + Vector<float>.Count <= span.Length; i += Vector<float>.Count)
                    vm = Vector.Max(vm, Vector.Abs(new Vector<float>(span.Slice(i))));
                for (int l = 0; l < Vector<float>.Count; l++) if (vm[l] > m) m = vm[l];
            }
            for (; i < span.Length; i++) { float v = Math.Abs(span[i]); if (v > m) m = v; }
            maxima[c] = m;
        }
    }

    private readonly struct PadSlices(float[] coef, float[] padded, int nx, int ny, int nz, float tau) : IRowOperation
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Invoke(int pk)
        {
            int px = nx + 3, py = ny + 3;
            int k = CubicBSpline3.Mirror(pk - 1, nz);
            for (int pj = 0; pj < py; pj++)
            {
                int j = CubicBSpline3.Mirror(pj - 1, ny);
                int src = (k * ny + j) * nx, dst = (pk * py + pj) * px;
                padded[dst] = Flushed(coef[src + CubicBSpline3.Mirror(-1, nx)]);
                var from = coef.AsSpan(src, nx);
                var to = padded.AsSpan(dst + 1, nx);
                int i = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    var vt = new Vector<float>(tau);
                    for (; i + Vector<float>.Count <= nx; i += Vector<float>.Count)
                    {
                        var c = new Vector<float>(from.Slice(i));
                        Vector.AndNot(c, Vector.LessThan(Vector.Abs(c), vt).As<int, float>()).CopyTo(to.Slice(i));
                    }
                }
                for (; i < nx; i++) to[i] = Flushed(from[i]);
                padded[dst + nx + 1] = Flushed(coef[src + CubicBSpline3.Mirror(nx, nx)]);
                padded[dst + nx + 2] = Flushed(coef[src + CubicBSpline3.Mirror(nx + 1, nx)]);
            }
        }

        private float Flushed(float c) => Math.Abs(c) < tau ? 0f : c;
    }
}
