using System.Runtime.CompilerServices;
using RegPS.Engine.Images;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Registration;

/// <summary>Resampling of one volume through an affine voxel map, the hot path of writing a corrected series.</summary>
internal static class SeriesResampling
{
    /// <summary>
    /// dst(i, j, k) = src(voxelMap (i, j, k)), trilinear, zero-padded as DIPY (and <see cref="Resampler.Trilinear"/>
    /// with <see cref="Boundary.ZeroPadded"/>, which handles the points whose cell is not wholly inside the source).
    /// Coordinates advance along a row by adding the map's first column; a point whose 8 corners are inside is blended
    /// directly (x, then y, then z) without bounds tests, which is almost every point of a series.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Trilinear(float[] src, int srcOffset, Grid srcGrid, Grid target, Matrix4 voxelMap, float[] dst, int dstOffset) =>
        Trilinear(src, srcOffset, srcGrid, target, voxelMap, dst, dstOffset, 0, target.NZ);

    /// <summary>As above for the slices <paramref name="kStart"/> to <paramref name="kEnd"/> - 1 of the target only (slice k at dstOffset + k nx ny).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Trilinear(float[] src, int srcOffset, Grid srcGrid, Grid target, Matrix4 voxelMap, float[] dst, int dstOffset, int kStart, int kEnd)
    {
        int nx = target.NX, ny = target.NY;
        int sx = srcGrid.NX, sy = srcGrid.NY, sz = srcGrid.NZ, sxy = sx * sy;
        double m00 = voxelMap[0, 0], m10 = voxelMap[1, 0], m20 = voxelMap[2, 0];
        for (int k = kStart; k < kEnd; k++)
            for (int j = 0; j < ny; j++)
            {
                var (x0, y0, z0) = voxelMap.Apply(0, j, k);
                int row = dstOffset + (k * ny + j) * nx;
                for (int i = 0; i < nx; i++)
                {
                    double x = x0 + m00 * i, y = y0 + m10 * i, z = z0 + m20 * i;
                    int a = (int)Math.Floor(x), b = (int)Math.Floor(y), c = (int)Math.Floor(z);
                    if ((uint)a >= (uint)(sx - 1) || (uint)b >= (uint)(sy - 1) || (uint)c >= (uint)(sz - 1))
                    {
                        dst[row + i] = Linear.Trilinear(src, srcOffset, sx, sy, sz, x, y, z, Boundary.ZeroPadded);
                        continue;
                    }
                    double fx = x - a, fy = y - b, fz = z - c;
                    int q = srcOffset + (c * sy + b) * sx + a;
                    double c00 = src[q] + fx * (src[q + 1] - src[q]);
                    double c10 = src[q + sx] + fx * (src[q + sx + 1] - src[q + sx]);
                    q += sxy;
                    double c01 = src[q] + fx * (src[q + 1] - src[q]);
                    double c11 = src[q + sx] + fx * (src[q + sx + 1] - src[q + sx]);
                    double v0 = c00 + fy * (c10 - c00), v1 = c01 + fy * (c11 - c01);
                    dst[row + i] = (float)(v0 + fz * (v1 - v0));
                }
            }
    }
}
