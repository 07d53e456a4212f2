using System.Runtime.CompilerServices;
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using RegPS.Engine.Filters;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Fields;

/// <summary>
/// Gaussian smoothing of an interleaved multi-component float32 field, channel by channel, with scipy's
/// gaussian_filter semantics (sigma in voxels per axis, kernel radius round(4 sigma), boundary 'reflect').
/// Why it is fast: every pass is written as "output row += w_t * shifted input row" over whole contiguous rows of
/// nx*components floats, which runs with SIMD (Vector&lt;float&gt;) and touches memory in order even along y and z:
/// x pass per row (a reflect-padded copy of the row), y pass per slice (a copy of the slice), z pass per y row
/// (a gathered copy of that row across slices). Each output depends only on its own line, so any thread count gives
/// the same bits. Float accumulation is enough here: the weights are positive and sum to 1.
/// </summary>
internal static class FieldSmoothing
{
    public static void Smooth(float[] f, int comps, int nx, int ny, int nz, double[] sigma, int maxDegree)
    {
        int rowLen = nx * comps;
        if (sigma[0] > 0 && nx > 1)
        {
            var w = Weights(sigma[0]);
            int r = w.Length / 2;
            int padded = (nx + 2 * r) * comps;
            SliceIterator.For(ny * nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (row) =>
            {
                var line = ArrayPool<float>.Shared.Rent(padded);
                try
                {
                    int start = row * rowLen;
                    for (int t = -r; t < nx + r; t++)
                    {
                        int s = start + Gaussian.Reflect(t, nx) * comps, dd = (t + r) * comps;
                        for (int c = 0; c < comps; c++) line[dd + c] = f[s + c];
                    }
                    var dst = f.AsSpan(start, rowLen);
                    dst.Clear();
                    for (int t = 0; t < w.Length; t++) Axpy(dst, line.AsSpan(t * comps, rowLen), w[t]);
                }
                finally { ArrayPool<float>.Shared.Return(line); }
            });
        }
        if (sigma[1] > 0 && ny > 1)
        {
            var w = Weights(sigma[1]);
            int r = w.Length / 2;
            int sliceLen = rowLen * ny;
            SliceIterator.For(nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (k) =>
            {
                var copy = ArrayPool<float>.Shared.Rent(sliceLen);
                try
                {
                    Array.Copy(f, k * sliceLen, copy, 0, sliceLen);
                    for (int j = 0; j < ny; j++)
                    {
                        var dst = f.AsSpan(k * sliceLen + j * rowLen, rowLen);
                        dst.Clear();
                        for (int t = -r; t <= r; t++) Axpy(dst, copy.AsSpan(Gaussian.Reflect(j + t, ny) * rowLen, rowLen), w[t + r]);
                    }
                }
                finally { ArrayPool<float>.Shared.Return(copy); }
            });
        }
        if (sigma.Length > 2 && sigma[2] > 0 && nz > 1)
        {
            var w = Weights(sigma[2]);
            int r = w.Length / 2;
            int sliceLen = rowLen * ny;
            SliceIterator.For(ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (j) =>
            {
                var copy = ArrayPool<float>.Shared.Rent(rowLen * nz);
                try
                {
                    for (int k = 0; k < nz; k++) Array.Copy(f, k * sliceLen + j * rowLen, copy, k * rowLen, rowLen);
                    for (int k = 0; k < nz; k++)
                    {
                        var dst = f.AsSpan(k * sliceLen + j * rowLen, rowLen);
                        dst.Clear();
                        for (int t = -r; t <= r; t++) Axpy(dst, copy.AsSpan(Gaussian.Reflect(k + t, nz) * rowLen, rowLen), w[t + r]);
                    }
                }
                finally { ArrayPool<float>.Shared.Return(copy); }
            });
        }
    }

    private static float[] Weights(double sigma) => Gaussian.Kernel(sigma).Select(v => (float)v).ToArray();

    /// <summary>dst += w * src, SIMD with a scalar tail.</summary>
    internal static void Axpy(Span<float> dst, ReadOnlySpan<float> src, float w)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && dst.Length >= Vector<float>.Count)
        {
            var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
            var vs = MemoryMarshal.Cast<float, Vector<float>>(src);
            var vw = new Vector<float>(w);
            for (int v = 0; v < vd.Length; v++) vd[v] += vw * vs[v];
            i = vd.Length * Vector<float>.Count;
        }
        for (; i < dst.Length; i++) dst[i] += w * src[i];
    }
}
