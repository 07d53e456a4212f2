using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Resampling;
using RegPS.Engine.Tests.TestSupport;

namespace RegPS.Engine.Tests.Resampling;

/// <summary>Resampler.Resample against nibabel's resample_from_to on the same files (the real client).</summary>
public sealed class NibabelResampleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-resample-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [PythonFact("nibabel", "scipy")]
    public void MatchesNibabelResampleFromToForAnObliqueTarget()
    {
        // Source: smooth random content on an LSA-like grid; target: an oblique RAS grid with other voxel sizes that
        // covers part of the source and some space outside it (zeros there).
        var rnd = new Random(11);
        var sg = new Grid(20, 18, 14, new Matrix4(new double[] { -2, 0, 0, 20, 0, 0, 3, -30, 0, 2, 0, -10, 0, 0, 0, 1 }));
        var data = new float[sg.VoxelCount];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(100 * rnd.NextDouble());
        var source = RegPS.Engine.Filters.Gaussian.Smooth(new Image(sg, data), 1.0);
        double c = Math.Cos(0.2), s = Math.Sin(0.2);
        var tg = new Grid(17, 15, 13, new Matrix4(new double[] { 2.5 * c, -2.5 * s, 0, -25, 2.5 * s, 2.5 * c, 0, -28, 0, 0, 2.2, -8, 0, 0, 0, 1 }));
        string src = Path.Combine(_dir, "src.nii"), refPath = Path.Combine(_dir, "ref.nii");
        string lin = Path.Combine(_dir, "lin.nii"), nn = Path.Combine(_dir, "nn.nii");
        NiftiWriter.Write(source, src);
        NiftiWriter.Write(new Image(tg, new float[tg.VoxelCount]), refPath);
        Python.Run("resample_interop.py", new[] { src, refPath, lin, nn });
        var fromFile = NiftiReader.Read(src);
        var expectedLinear = NiftiReader.Read(lin);
        var expectedNearest = NiftiReader.Read(nn);
        var linear = Resampler.Resample(fromFile, tg, null, Interpolation.Linear, Boundary.Constant);
        var nearest = Resampler.Resample(fromFile, tg, null, Interpolation.Nearest, Boundary.Constant);
        int inside = 0, nearestAgree = 0;
        for (int i = 0; i < tg.VoxelCount; i++)
        {
            Assert.True(Math.Abs(linear.Voxels[i] - expectedLinear.Voxels[i]) < 1e-3,
                $"voxel {i}: RegPS {linear.Voxels[i]} nibabel {expectedLinear.Voxels[i]}");
            if (expectedLinear.Voxels[i] != 0) inside++;
            if (nearest.Voxels[i] == expectedNearest.Voxels[i]) nearestAgree++;
        }
        Assert.True(inside > tg.VoxelCount / 4, "the target grid should overlap the source");
        Assert.True(inside < tg.VoxelCount, "the target grid should also reach outside the source");
        // Nearest-neighbour may differ only where a sample lies within float rounding of a half-way point.
        Assert.True(nearestAgree >= tg.VoxelCount * 0.999, $"nearest agrees on {nearestAgree} of {tg.VoxelCount}");
    }

    [PythonFact("nibabel", "scipy")]
    public void CubicBSplineMatchesNibabelsDefaultOrder3()
    {
        var rnd = new Random(5);
        var sg = new Grid(22, 19, 16, new Matrix4(new double[] { -2, 0, 0, 20, 0, 0, 3, -30, 0, 2, 0, -10, 0, 0, 0, 1 }));
        var data = new float[sg.VoxelCount];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(100 * rnd.NextDouble());
        var source = RegPS.Engine.Filters.Gaussian.Smooth(new Image(sg, data), 0.8);
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        var tg = new Grid(17, 15, 13, new Matrix4(new double[] { 2.1 * c, -2.1 * s, 0, -22, 2.1 * s, 2.1 * c, 0, -26, 0, 0, 2.3, -6, 0, 0, 0, 1 }));
        string src = Path.Combine(_dir, "src.nii"), refPath = Path.Combine(_dir, "ref.nii"), cub = Path.Combine(_dir, "cubic.nii");
        NiftiWriter.Write(source, src);
        NiftiWriter.Write(new Image(tg, new float[tg.VoxelCount]), refPath);
        Python.Run("resample_cubic.py", new[] { src, refPath, cub });
        var fromFile = NiftiReader.Read(src);
        var expected = NiftiReader.Read(cub);
        var cubic = Resampler.Resample(fromFile, tg, null, Interpolation.BSpline, Boundary.Constant);
        var linear = Resampler.Resample(fromFile, tg, null, Interpolation.Linear, Boundary.Constant);
        int inside = 0;
        double maxLinearGap = 0;
        for (int i = 0; i < tg.VoxelCount; i++)
        {
            Assert.True(Math.Abs(cubic.Voxels[i] - expected.Voxels[i]) < 1e-3,
                $"voxel {i}: RegPS {cubic.Voxels[i]} nibabel {expected.Voxels[i]}");
            if (expected.Voxels[i] != 0) inside++;
            maxLinearGap = Math.Max(maxLinearGap, Math.Abs(linear.Voxels[i] - expected.Voxels[i]));
        }
        Assert.True(inside > tg.VoxelCount / 4, "the target grid should overlap the source");
        Assert.True(maxLinearGap > 0.05, "linear and cubic should differ on this image (else the test proves nothing)");
    }
}
