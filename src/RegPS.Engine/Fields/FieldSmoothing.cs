using System.Runtime.CompilerServices;
using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Filters;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Fields;

/// <summary>
/// Gaussian smoothing of an interleaved multi-component float32 field, channel by channel, with scipy's
/// gaussian_filter semantics (sigma in voxels per axis, kernel radius round(truncate sigma), truncate 4 by default as
/// scipy's, boundary 'reflect').
/// Why it is fast: every pass is written as "output row += w_t * shifted input row" over whole contiguous rows of
/// nx*components floats, which runs with SIMD (Vector&lt;float&gt;) and touches memory in order even along y and z:
/// x pass per row (a reflect-padded copy of the row), y pass per slice (a copy of the slice; in 3D the x pass of the
/// slice writes straight into that copy, so x and y cost one sweep over memory), z pass per y row (a gathered copy of
/// that row across slices). The kernel is symmetric, so mirrored taps are added before one fused multiply-add.
/// Each output depends only on its own line, so any thread count gives the same bits. Float accumulation is enough
/// here: the weights are positive and sum to 1.
/// </summary>
internal static class FieldSmoothing
{
    public static void Smooth(float[] f, int comps, int nx, int ny, int nz, double[] sigma, int maxDegree, double truncate = Gaussian.Truncate)
        => Smooth(new[] { f }, comps, nx, ny, nz, sigma, maxDegree, truncate);

    /// <summary>
    /// Smooths each of <paramref name="fields"/> (same shape) in place; the passes of all fields share one parallel
    /// loop per pass (fewer thread hand-offs, better balance), each field's outputs computed exactly as on its own.
    /// The kernel radius is round(truncate * sigma) (scipy's truncate; 4 is its default).
    /// </summary>
    public static void Smooth(float[][] fields, int comps, int nx, int ny, int nz, double[] sigma, int maxDegree, double truncate = Gaussian.Truncate)
    {
        int rowLen = nx * comps, nf = fields.Length;
        bool doX = sigma[0] > 0 && nx > 1, doY = sigma[1] > 0 && ny > 1;
        float[]? wx = doX ? Weights(sigma[0], truncate) : null, wy = doY ? Weights(sigma[1], truncate) : null;
        if (doX && doY && nz >= 4)
        {
            // x and y passes fused per slice: the slice is still in cache when its y pass reads it (one sweep over
            // memory less; every output is computed with the same operations as in separate passes)
            SliceIterator.For(nf * nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
            {
                SmoothYSlice(fields[task / nz], comps, nx, ny, task % nz, wy!, wx!);
            });
        }
        else
        {
            if (doX) SliceIterator.For(nf * ny * nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
            {
                var f = fields[task / (ny * nz)];
                int row = task % (ny * nz);
                SmoothXRow(f, comps, nx, row, wx!, f.AsSpan(row * rowLen, rowLen));
            });
            if (doY)
            {
                // per slice, or per slice and block of 16 columns when there are few slices (2D: one), so that every
                // thread gets a share
                int block = nz >= 4 ? nx : 16;
                int nb = (nx + block - 1) / block;
                SliceIterator.For(nf * nz * nb, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
                {
                    var f = fields[task / (nz * nb)];
                    int t = task % (nz * nb);
                    int k = t / nb, x0 = (t % nb) * block;
                    SmoothYBlock(f, comps, nx, ny, k, x0, Math.Min(block, nx - x0), wy!);
                });
            }
        }
        if (sigma.Length > 2 && sigma[2] > 0 && nz > 1)
        {
            var w = Weights(sigma[2], truncate);
            int sliceLen = rowLen * ny;
            SliceIterator.For(nf * ny, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
            {
                var f = fields[task / ny];
                int j = task % ny;
                var copy = ArrayPool<float>.Shared.Rent(rowLen * nz);
                try
                {
                    for (int k = 0; k < nz; k++) Array.Copy(f, k * sliceLen + j * rowLen, copy, k * rowLen, rowLen);
                    Span<int> offs = stackalloc int[w.Length];
                    for (int k = 0; k < nz; k++)
                    {
                        ReflectedTaps(offs, k, nz, rowLen);
                        Convolve(f.AsSpan(k * sliceLen + j * rowLen, rowLen), copy, offs, w);
                    }
                }
                finally { ArrayPool<float>.Shared.Return(copy); }
            });
        }
    }

    /// <summary>x pass of one row: a reflect-padded copy of the row, convolved back into place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the stack buffers are written before they are read
    internal static void SmoothXRow(float[] f, int comps, int nx, int row, float[] w, Span<float> dst)
    {
        int rowLen = nx * comps;
        int r = w.Length / 2;
        int padded = (nx + 2 * r) * comps;
        var line = ArrayPool<float>.Shared.Rent(padded);
        try
        {
            int start = row * rowLen;
            // interior copied in one block; only the 2r padding positions are reflected
            Array.Copy(f, start, line, r * comps, rowLen);
            for (int t = -r; t < 0; t++)
            {
                int s1 = start + Gaussian.Reflect(t, nx) * comps, d1 = (t + r) * comps;
                int s2 = start + Gaussian.Reflect(nx - 1 - t, nx) * comps, d2 = (nx - 1 - t + r) * comps;
                for (int c = 0; c < comps; c++) { line[d1 + c] = f[s1 + c]; line[d2 + c] = f[s2 + c]; }
            }
            Span<int> offs = stackalloc int[w.Length];
            for (int t = 0; t < w.Length; t++) offs[t] = t * comps;
            Convolve(dst, line, offs, w);
        }
        finally { ArrayPool<float>.Shared.Return(line); }
    }

    /// <summary>
    /// x and y passes of slice k fused: the x pass writes the slice's rows into a copy, then each row is convolved from
    /// the reflected rows of the copy (no separate sweep over memory; per element the operations of the separate passes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the stack buffers are written before they are read
    private static void SmoothYSlice(float[] f, int comps, int nx, int ny, int k, float[] w, float[] wx)
    {
        int rowLen = nx * comps;
        int sliceLen = rowLen * ny;
        var copy = ArrayPool<float>.Shared.Rent(sliceLen);
        try
        {
            for (int j = 0; j < ny; j++) SmoothXRow(f, comps, nx, k * ny + j, wx, copy.AsSpan(j * rowLen, rowLen));
            Span<int> offs = stackalloc int[w.Length];
            for (int j = 0; j < ny; j++)
            {
                ReflectedTaps(offs, j, ny, rowLen);
                Convolve(f.AsSpan(k * sliceLen + j * rowLen, rowLen), copy, offs, w);
            }
        }
        finally { ArrayPool<float>.Shared.Return(copy); }
    }

    /// <summary>
    /// y pass of columns [x0, x0 + width) of slice k: those columns copied out, then each row segment convolved from the
    /// reflected rows of the copy; per element the operations of the fused pass in <see cref="SmoothYSlice"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the stack buffers are written before they are read
    private static void SmoothYBlock(float[] f, int comps, int nx, int ny, int k, int x0, int width, float[] w)
    {
        int rowLen = nx * comps, segLen = width * comps;
        int start = k * rowLen * ny + x0 * comps;
        var copy = ArrayPool<float>.Shared.Rent(segLen * ny);
        try
        {
            for (int j = 0; j < ny; j++) Array.Copy(f, start + j * rowLen, copy, j * segLen, segLen);
            Span<int> offs = stackalloc int[w.Length];
            for (int j = 0; j < ny; j++)
            {
                ReflectedTaps(offs, j, ny, segLen);
                Convolve(f.AsSpan(start + j * rowLen, segLen), copy, offs, w);
            }
        }
        finally { ArrayPool<float>.Shared.Return(copy); }
    }

    /// <summary>The Gaussian's taps as floats: radius round(truncate * sigma), scipy's weights (<see cref="Gaussian.Kernel"/>).</summary>
    internal static float[] Weights(double sigma, double truncate) => Gaussian.Kernel(sigma, truncate).Select(v => (float)v).ToArray();

    /// <summary>
    /// The taps' offsets for output position i of an axis of n lines stride floats apart, from start: offs[t + r] =
    /// start + reflect(i + t) * stride for t in [-r, r] (scipy's 'reflect'), r = offs.Length / 2.
    /// </summary>
    internal static void ReflectedTaps(Span<int> offs, int i, int n, int stride, int start = 0)
    {
        int r = offs.Length / 2;
        for (int t = -r; t <= r; t++) offs[t + r] = start + Gaussian.Reflect(i + t, n) * stride;
    }

    /// <summary>
    /// dst[m] = sum_t w[t] * src[offs[t] + m] for m in [0, dst.Length), for a symmetric kernel (w[t] = w[taps-1-t], as
    /// every Gaussian kernel here is): the centre tap first, then each mirrored pair added before one fused multiply-add,
    /// about half the arithmetic of the plain sum. Taps are accumulated in a register per SIMD block (one store per
    /// block), then a scalar tail with the same operation order. Each tap is one fused multiply-add where the hardware
    /// has it (x64 FMA3, arm64); elsewhere a multiply and an add (<see cref="MulAdd(Vector{float}, Vector{float}, Vector{float})"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void Convolve(Span<float> dst, float[] src, ReadOnlySpan<int> offs, float[] w)
    {
        int n = dst.Length, taps = w.Length, m = 0, r = taps / 2;
        ref float s0 = ref MemoryMarshal.GetArrayDataReference(src);
        if (Vector.IsHardwareAccelerated)
        {
            int vc = Vector<float>.Count;
            var wc = new Vector<float>(w[r]);
            int oc = offs[r];
            // four blocks at a time: four independent accumulation chains (one chain alone waits on its fused
            // multiply-adds' latency), each tap's weight and offsets read once for the four
            for (; m + 4 * vc <= n; m += 4 * vc)
            {
                var a0 = wc * Vector.LoadUnsafe(ref s0, (nuint)(oc + m));
                var a1 = wc * Vector.LoadUnsafe(ref s0, (nuint)(oc + m + vc));
                var a2 = wc * Vector.LoadUnsafe(ref s0, (nuint)(oc + m + 2 * vc));
                var a3 = wc * Vector.LoadUnsafe(ref s0, (nuint)(oc + m + 3 * vc));
                for (int t = 0; t < r; t++)
                {
                    var wt = new Vector<float>(w[t]);
                    ref float lo = ref Unsafe.Add(ref s0, offs[t] + m);
                    ref float hi = ref Unsafe.Add(ref s0, offs[taps - 1 - t] + m);
                    a0 = MulAdd(wt, Vector.LoadUnsafe(ref lo) + Vector.LoadUnsafe(ref hi), a0);
                    a1 = MulAdd(wt, Vector.LoadUnsafe(ref lo, (nuint)vc) + Vector.LoadUnsafe(ref hi, (nuint)vc), a1);
                    a2 = MulAdd(wt, Vector.LoadUnsafe(ref lo, (nuint)(2 * vc)) + Vector.LoadUnsafe(ref hi, (nuint)(2 * vc)), a2);
                    a3 = MulAdd(wt, Vector.LoadUnsafe(ref lo, (nuint)(3 * vc)) + Vector.LoadUnsafe(ref hi, (nuint)(3 * vc)), a3);
                }
                a0.CopyTo(dst.Slice(m)); a1.CopyTo(dst.Slice(m + vc)); a2.CopyTo(dst.Slice(m + 2 * vc)); a3.CopyTo(dst.Slice(m + 3 * vc));
            }
            for (; m + vc <= n; m += vc)
            {
                var acc = wc * Vector.LoadUnsafe(ref s0, (nuint)(oc + m));
                for (int t = 0; t < r; t++)
                    acc = MulAdd(new Vector<float>(w[t]),
                        Vector.LoadUnsafe(ref s0, (nuint)(offs[t] + m)) + Vector.LoadUnsafe(ref s0, (nuint)(offs[taps - 1 - t] + m)), acc);
                acc.CopyTo(dst.Slice(m));
            }
        }
        for (; m < n; m++)
        {
            float acc = w[r] * src[offs[r] + m];
            for (int t = 0; t < r; t++) acc = MulAdd(w[t], src[offs[t] + m] + src[offs[taps - 1 - t] + m], acc);
            dst[m] = acc;
        }
    }

    /// <summary>
    /// a * b + c: one fused multiply-add (one rounding) where the hardware has it (x64 FMA3, arm64); elsewhere a multiply
    /// and an add, since .NET computes the fused result there in software, about 20 times slower (the update smoothing of
    /// a 2x2x3 mm step took 400 instead of 22 ns per voxel with FMA turned off). The vector and scalar forms decide
    /// alike, so a machine's vector and scalar paths give the same bits either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> MulAdd(Vector<float> a, Vector<float> b, Vector<float> c)
        => Fma.IsSupported || AdvSimd.Arm64.IsSupported ? Vector.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <inheritdoc cref="MulAdd(Vector{float}, Vector{float}, Vector{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MulAdd(float a, float b, float c)
        => Fma.IsSupported || AdvSimd.Arm64.IsSupported ? MathF.FusedMultiplyAdd(a, b, c) : a * b + c;
}
