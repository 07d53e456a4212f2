using RegPS.Engine.Images;
using RegPS.Engine.Parallel;

namespace RegPS.Engine.Resampling;

public enum Interpolation
{
    /// <summary>Trilinear (bilinear in 2D).</summary>
    Linear,
    /// <summary>Nearest neighbour.</summary>
    Nearest,
    /// <summary>
    /// For label maps (ANTs' GenericLabel): each label's indicator is interpolated linearly and the label with the
    /// largest value is taken, so the output holds only labels of the input.
    /// </summary>
    GenericLabel,
    /// <summary>Cubic B-spline on prefiltered coefficients (scipy.ndimage order=3, nibabel's resample_from_to default; ITK order 3).</summary>
    BSpline,
    /// <summary>Lanczos windowed sinc, radius 3 (antsApplyTransforms' LanczosWindowedSinc), weights normalised to sum 1.</summary>
    Lanczos,
}

/// <summary>Interpolation kernels and whole-image resampling into another grid.</summary>
public static class Resampler
{
    /// <summary>
    /// Resamples <paramref name="source"/> onto <paramref name="target"/>. For each target voxel i the sample point is
    /// source.WorldToGrid * map * target.GridToWorld * i, where <paramref name="targetToSourceWorld"/> maps a target-world
    /// point to a source-world point (identity: both headers place the images in the same world, as nibabel's
    /// resample_from_to). All volumes and colour planes are resampled.
    /// </summary>
    public static Image Resample(Image source, Grid target, Matrix4? targetToSourceWorld = null,
        Interpolation interpolation = Interpolation.Linear, Boundary boundary = Boundary.Constant, int maxDegree = 0)
    {
        var m = source.Grid.WorldToGrid * (targetToSourceWorld ?? Matrix4.Identity) * target.GridToWorld;
        int nvox = target.VoxelCount;
        var outData = new float[(long)nvox * source.Volumes];
        for (int v = 0; v < source.Volumes; v++)
            ResampleVolume(source.Buffer, v * source.Grid.VoxelCount, source.Grid, target, m, interpolation, boundary, outData, v * nvox, maxDegree);
        float[]? colour = null;
        if (source.ColourBuffer is { } c)
        {
            colour = new float[3 * nvox];
            for (int p = 0; p < 3; p++)
                ResampleVolume(c, p * source.Grid.VoxelCount, source.Grid, target, m, interpolation, boundary, colour, p * nvox, maxDegree);
        }
        return new Image(target, outData, source.Volumes, colour, source.SourcePath, source.DataType, source.SourceHeader);
    }

    /// <summary>Resamples one volume given the full target-voxel to source-voxel matrix.</summary>
    internal static void ResampleVolume(float[] src, int srcOffset, Grid srcGrid, Grid target, Matrix4 voxelMap,
        Interpolation interpolation, Boundary boundary, float[] dst, int dstOffset, int maxDegree)
    {
        int nx = target.NX, ny = target.NY;
        bool twoD = srcGrid.Dimension == 2;
        double m00 = voxelMap[0, 0], m10 = voxelMap[1, 0], m20 = voxelMap[2, 0];
        if (interpolation is not (Interpolation.Linear or Interpolation.Nearest))
        {
            // The other kernels sample inside [0, n-1] (scipy's mode='constant', as nibabel) or, for DIPY's zero-padded
            // maps, inside ITK's [-0.5, n-0.5).
            var sampler = new VolumeSampler(src, srcOffset, srcGrid, interpolation, boundary == Boundary.Constant ? SampleDomain.Scipy : SampleDomain.Itk, 0f);
            SliceIterator.For(target.NZ, maxDegree, k =>
            {
                for (int j = 0; j < ny; j++)
                {
                    var (x0, y0, z0) = voxelMap.Apply(0, j, k);
                    int row = dstOffset + (k * ny + j) * nx;
                    for (int i = 0; i < nx; i++)
                        dst[row + i] = sampler.Sample(x0 + m00 * i, y0 + m10 * i, twoD ? 0 : z0 + m20 * i);
                }
            });
            return;
        }
        int sx = srcGrid.NX, sy = srcGrid.NY, sz = srcGrid.NZ;
        SliceIterator.For(target.NZ, maxDegree, k =>
        {
            for (int j = 0; j < ny; j++)
            {
                var (x0, y0, z0) = voxelMap.Apply(0, j, k);
                int row = dstOffset + (k * ny + j) * nx;
                for (int i = 0; i < nx; i++)
                {
                    double x = x0 + m00 * i, y = y0 + m10 * i, z = z0 + m20 * i;
                    dst[row + i] = interpolation == Interpolation.Linear
                        ? (twoD ? Linear.Bilinear(src, srcOffset, sx, sy, x, y, boundary) : Linear.Trilinear(src, srcOffset, sx, sy, sz, x, y, z, boundary))
                        : Nearest(src, srcOffset, sx, sy, twoD ? 1 : sz, x, y, twoD ? 0 : z, boundary);
                }
            }
        });
    }

    /// <summary>
    /// Nearest neighbour, valid on [0, n-1] on every axis (0 outside). ZeroPadded rounds ties down (DIPY);
    /// Constant rounds ties up, as scipy.ndimage's order-0 interpolation (and so nibabel's resample_from_to) does.
    /// </summary>
    public static float Nearest(float[] d, int off, int nx, int ny, int nz, double x, double y, double z, Boundary boundary)
    {
        const double tol = 1e-6;
        if (x < -tol || y < -tol || z < -tol || x > nx - 1 + tol || y > ny - 1 + tol || z > nz - 1 + tol) return 0f;
        int i, j, k;
        if (boundary == Boundary.ZeroPadded)
        {
            i = (int)Math.Ceiling(x - 0.5); j = (int)Math.Ceiling(y - 0.5); k = (int)Math.Ceiling(z - 0.5);
        }
        else
        {
            i = (int)Math.Floor(x + 0.5); j = (int)Math.Floor(y + 0.5); k = (int)Math.Floor(z + 0.5);
        }
        i = Math.Clamp(i, 0, nx - 1); j = Math.Clamp(j, 0, ny - 1); k = Math.Clamp(k, 0, nz - 1);
        return d[off + (k * ny + j) * nx + i];
    }
}
