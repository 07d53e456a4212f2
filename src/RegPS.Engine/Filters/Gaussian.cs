using System.Buffers;
using RegPS.Engine.Images;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Filters;

/// <summary>
/// Separable Gaussian smoothing with scipy.ndimage.gaussian_filter's semantics: sigma in voxels per axis,
/// kernel truncated at 4 sigma (radius = round(4 sigma)), boundary mode 'reflect' (d c b a | a b c d | d c b a).
/// Each axis is one pass over contiguous lines copied to a scratch line, so the cost is O(radius) per voxel
/// per axis and every output value depends only on its own line: results are identical at any thread count.
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
        int[] n = { nx, ny, nz };
        int[] stride = { 1, nx, nx * ny };
        for (int axis = 0; axis < 3; axis++)
        {
            double s = axis < sigmas.Length ? sigmas[axis] : 0;
            if (s <= 0 || n[axis] == 1) continue;
            var kernel = Kernel(s);
            int len = n[axis], st = stride[axis];
            // Lines along this axis are indexed by the other two coordinates; split the work by the outer one.
            int a1 = axis == 0 ? 1 : 0, a2 = axis == 2 ? 1 : 2;
            int n1 = n[a1], n2 = n[a2], s1 = stride[a1], s2 = stride[a2];
            SliceIterator.For(n2, maxDegree, o =>
            {
                var line = ArrayPool<double>.Shared.Rent(len);
                try
                {
                    for (int i1 = 0; i1 < n1; i1++)
                    {
                        int start = o * s2 + i1 * s1;
                        for (int t = 0; t < len; t++) line[t] = data[start + t * st];
                        ConvolveLine(line, len, kernel, data, start, st);
                    }
                }
                finally { ArrayPool<double>.Shared.Return(line); }
            });
        }
    }

    private static void ConvolveLine(double[] line, int len, double[] kernel, float[] dst, int start, int stride)
    {
        int r = kernel.Length / 2;
        for (int t = 0; t < len; t++)
        {
            double acc = 0;
            if (t - r >= 0 && t + r < len)
            {
                for (int k = -r; k <= r; k++) acc += kernel[k + r] * line[t + k];
            }
            else
            {
                for (int k = -r; k <= r; k++) acc += kernel[k + r] * line[Reflect(t + k, len)];
            }
            dst[start + t * stride] = (float)acc;
        }
    }
}
