using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;
using static RegPS.Engine.Simd.XyzLanes;

namespace RegPS.Engine.Filters;

/// <summary>
/// Separable Gaussian smoothing with scipy.ndimage.gaussian_filter's semantics: sigma in voxels per axis,
/// kernel truncated at 4 sigma (radius = round(4 sigma)), boundary mode 'reflect' (d c b a | a b c d | d c b a).
/// Each axis is one pass: rows through a reflect-padded double copy, y and z lines in blocks of 64 neighbouring
/// lines copied out together (so memory is read in order) and computed 4 lines at a time with AVX. Every output is
/// the same double sum in the same order whichever path computes it, so results are identical at any thread count
/// and with or without SIMD; the cost is O(radius) per voxel per axis.
/// </summary>
public static class Gaussian
{
    public const double Truncate = 4.0;

    /// <summary>Normalised 1D kernel of radius round(truncate*sigma).</summary>
    public static double[] Kernel(double sigma, double truncate = Truncate)
    {
        int radius = (int)(truncate * sigma + 0.5);
        var k = new double[2 * radius + 1];
        double sum = 0;
        for (int i = -radius; i <= radius; i++)
        {
            double v = Math.Exp(-0.5 * i * i / (sigma * sigma));
            k[i + radius] = v;
            sum += v;
        }
        for (int i = 0; i < k.Length; i++) k[i] /= sum;
        return k;
    }

    /// <summary>Reflect an index into [0, n) with the edge sample repeated (scipy 'reflect').</summary>
    internal static int Reflect(int i, int n)
    {
        if (n == 1) return 0;
        int period = 2 * n;
        i %= period;
        if (i < 0) i += period;
        return i < n ? i : period - 1 - i;
    }

    /// <summary>Smooths every volume of <paramref name="image"/> with the same sigma (voxels) on each spatial axis.</summary>
    public static Image Smooth(Image image, double sigma, int maxDegree = 0)
    {
        var sig = image.Dimension == 2 ? new[] { sigma, sigma, 0 } : new[] { sigma, sigma, sigma };
        return Smooth(image, sig, maxDegree);
    }

    /// <summary>Smooths with one sigma (voxels) per axis (x, y, z); a zero sigma leaves that axis alone.</summary>
    public static Image Smooth(Image image, double[] sigmas, int maxDegree = 0)
    {
        var g = image.Grid;
        var data = image.ToArray();
        for (int v = 0; v < image.Volumes; v++)
            SmoothInPlace(data.AsSpan(v * g.VoxelCount, g.VoxelCount), g.NX, g.NY, g.NZ, sigmas, maxDegree);
        return image.WithVoxels(data, image.Volumes);
    }

    /// <summary>In-place separable smoothing of one volume stored x fastest.</summary>
    public static void SmoothInPlace(Span<float> data, int nx, int ny, int nz, double[] sigmas, int maxDegree = 0)
    {
        // Spans cannot cross into lambdas; work on an array segment instead.
        var arr = ArrayPool<float>.Shared.Rent(data.Length);
        try
        {
            data.CopyTo(arr);
            SmoothInPlace(arr, nx, ny, nz, sigmas, maxDegree);
            arr.AsSpan(0, data.Length).CopyTo(data);
        }
        finally { ArrayPool<float>.Shared.Return(arr); }
    }

    internal static void SmoothInPlace(float[] data, int nx, int ny, int nz, double[] sigmas, int maxDegree)
    {
        // lines along y and z go in blocks of neighbouring x; 16 wide when there are few slices (2D), so that a
        // slice still splits evenly across threads
        int block = nz >= 4 ? 64 : 16;
        int[] n = { nx, ny, nz };
        for (int axis = 0; axis < 3; axis++)
        {
            double s = axis < sigmas.Length ? sigmas[axis] : 0;
            // a sigma whose kernel has radius 0 (below 1/8 voxel) is the one-tap kernel [1]: 1 * x is x, nothing to do
            if (s <= 0 || n[axis] == 1 || (int)(Truncate * s + 0.5) == 0) continue;
            var kernel = Kernel(s);
            int nb = (nx + block - 1) / block;
            if (axis == 0)
                SliceIterator.For(ny * nz, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (row) => SmoothRow(data, row * nx, nx, kernel));
            else if (axis == 1)
                // lines along y: per slice and block of x (so a 2D image still splits across threads)
                SliceIterator.For(nz * nb, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
                {
                    int k = task / nb, x0 = (task % nb) * block;
                    SmoothAcross(data, k * nx * ny + x0, nx, ny, Math.Min(block, nx - x0), kernel);
                });
            else
                SliceIterator.For(ny * nb, maxDegree, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (task) =>
                {
                    int j = task / nb, x0 = (task % nb) * block;
                    SmoothAcross(data, j * nx + x0, nx * ny, nz, Math.Min(block, nx - x0), kernel);
                });
        }
    }

    /// <summary>
    /// One row (contiguous, len values from start): out[t] = sum_q kernel[q] * in[reflect(t + q - r)], accumulated in
    /// double from 0 in ascending q. The row is copied to a reflect-padded double line, so interior and border outputs
    /// are the same expression; 4 outputs at a time with 256-bit vectors, 2 with 128-bit ones (arm64), each lane doing
    /// exactly the scalar operations (a product, then a sum; no fused multiply-add), so every path gives the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SmoothRow(float[] data, int start, int len, double[] kernel)
    {
        int taps = kernel.Length, r = taps / 2;
        var line = ArrayPool<double>.Shared.Rent(len + 2 * r);
        try
        {
            // the interior widened in one loop; only the 2r padding positions are reflected
            for (int t = 0; t < len; t++) line[t + r] = data[start + t];
            for (int t = -r; t < 0; t++) line[t + r] = data[start + Reflect(t, len)];
            for (int t = len; t < len + r; t++) line[t + r] = data[start + Reflect(t, len)];
            int m = 0;
            fixed (double* pl = line, pk = kernel)
            fixed (float* pd = data)
            {
                if (Vector256.IsHardwareAccelerated)
                    for (; m + 4 <= len; m += 4)
                    {
                        var acc = Vector256<double>.Zero;
                        for (int q = 0; q < taps; q++) acc += Vector256.Create(pk[q]) * Vector256.Load(pl + m + q);
                        ToSingle(acc).Store(pd + start + m);
                    }
                else if (Vector128.IsHardwareAccelerated)
                    // 128-bit hardware (arm64 NEON, x64 without AVX2): 2 outputs at a time, the same operations per lane
                    for (; m + 2 <= len; m += 2)
                    {
                        var acc = Vector128<double>.Zero;
                        for (int q = 0; q < taps; q++) acc += Vector128.Create(pk[q]) * Vector128.Load(pl + m + q);
                        pd[start + m] = (float)acc.GetElement(0);
                        pd[start + m + 1] = (float)acc.GetElement(1);
                    }
                for (; m < len; m++)
                {
                    double acc = 0;
                    for (int q = 0; q < taps; q++) acc += pk[q] * pl[m + q];
                    pd[start + m] = (float)acc;
                }
            }
        }
        finally { ArrayPool<double>.Shared.Return(line); }
    }

    /// <summary>
    /// `width` neighbouring lines (contiguous in x) along an axis with the given stride, len positions each: the block is
    /// copied out, then every output position is the kernel-weighted sum of the reflected input positions, the lanes
    /// (4 lines at a time with 256-bit vectors, 2 with 128-bit ones) doing exactly the scalar operations of
    /// <see cref="SmoothRow"/>: same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit] // the stack buffers are written before they are read
    private static unsafe void SmoothAcross(float[] data, int baseOffset, int stride, int len, int width, double[] kernel)
    {
        int taps = kernel.Length, r = taps / 2;
        var copy = ArrayPool<float>.Shared.Rent(width * len);
        try
        {
            for (int p = 0; p < len; p++) Array.Copy(data, baseOffset + p * stride, copy, p * width, width);
            int* offs = stackalloc int[taps];
            fixed (float* pc = copy, pd = data)
            fixed (double* pk = kernel)
            {
                for (int t = 0; t < len; t++)
                {
                    for (int q = 0; q < taps; q++) offs[q] = Reflect(t + q - r, len) * width;
                    float* dst = pd + baseOffset + t * stride;
                    int m = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; m + 4 <= width; m += 4)
                        {
                            var acc = Vector256<double>.Zero;
                            for (int q = 0; q < taps; q++) acc += Vector256.Create(pk[q]) * ToDouble(Vector128.Load(pc + offs[q] + m));
                            ToSingle(acc).Store(dst + m);
                        }
                    else if (Vector128.IsHardwareAccelerated)
                        for (; m + 2 <= width; m += 2)
                        {
                            var acc = Vector128<double>.Zero;
                            for (int q = 0; q < taps; q++)
                            {
                                float* src = pc + offs[q] + m;
                                acc += Vector128.Create(pk[q]) * Vector128.Create((double)src[0], src[1]);
                            }
                            dst[m] = (float)acc.GetElement(0);
                            dst[m + 1] = (float)acc.GetElement(1);
                        }
                    for (; m < width; m++)
                    {
                        double acc = 0;
                        for (int q = 0; q < taps; q++) acc += pk[q] * (double)pc[offs[q] + m];
                        dst[m] = (float)acc;
                    }
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(copy); }
    }
}
