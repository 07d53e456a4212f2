using RegPS.Engine.Tests.TestSupport;
using RegPS.Engine.Registration;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.TransformFiles;

namespace RegPS.Engine.Tests.TransformFiles;

public class DisplacementFieldFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-warp-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    // An oblique LPS-ish grid and a smooth field whose three components all differ.
    private static DisplacementField KnownField(out Grid g)
    {
        var m = new Matrix4(new double[] { -2, 0.1, 0, 90, 0, -2, 0.2, 120, 0, 0, 2.5, -60, 0, 0, 0, 1 });
        g = new Grid(9, 8, 7, m);
        var v = new float[g.VoxelCount * 3];
        for (int k = 0; k < 7; k++)
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 9; i++)
                {
                    int t = g.Index(i, j, k) * 3;
                    v[t] = (float)(1.5 * Math.Sin(i * 0.4) + 0.1 * k);
                    v[t + 1] = (float)(-0.8 * Math.Cos(j * 0.5));
                    v[t + 2] = (float)(0.05 * i * j - 0.3);
                }
        return new DisplacementField(g, v);
    }

    [Fact]
    public void WritesTheItkLayoutAndReadsItBack()
    {
        var f = KnownField(out var g);
        var path = Path.Combine(_dir, "warp.nii.gz");
        DisplacementFieldFile.Write(path, f);
        var h = NiftiReader.ReadHeader(path);
        Assert.Equal(new long[] { 5, 9, 8, 7, 1, 3 }, h.Dim[..6]);
        Assert.Equal(1007, h.IntentCode);
        // Component planes in LPS: the first plane holds -x (RAS), the third +z.
        var raw = NiftiReader.Read(path);
        Assert.Equal(-f[2, 3, 4].X, raw.Voxels[g.Index(2, 3, 4)], 6);
        Assert.Equal(f[2, 3, 4].Z, raw.Voxels[2 * g.VoxelCount + g.Index(2, 3, 4)], 6);
        var back = DisplacementFieldFile.Read(path);
        Assert.True(back.Grid.SameAs(g, 1e-6));
        Assert.Equal(f.Values.ToArray(), back.Values.ToArray());
    }

    [PythonFact("nibabel")]
    public void NibabelSeesTheItkLayout()
    {
        // nibabel (an independent reader) sees shape (X, Y, Z, 1, 3), the vector intent, our grid, and LPS vectors.
        var f = KnownField(out var g);
        var path = Path.Combine(_dir, "warp_nib.nii.gz");
        DisplacementFieldFile.Write(path, f);
        var json = System.Text.Json.JsonDocument.Parse(Python.Run("warp_layout.py", new[] { path, "2", "3", "4" })).RootElement;
        Assert.Equal(new[] { 9, 8, 7, 1, 3 }, json.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal(1007, json.GetProperty("intent").GetInt32());
        var rows = json.GetProperty("affine").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        Assert.True(Matrix4.FromRows(rows).MaxAbsDifference(g.GridToWorld) < 1e-5);
        var v = json.GetProperty("vector").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var (x, y, z) = f[2, 3, 4];
        Assert.Equal(-x, v[0], 5);
        Assert.Equal(-y, v[1], 5);
        Assert.Equal(z, v[2], 5);
    }

    [Fact]
    public void TwoDimensionalFieldsKeepTwoComponents()
    {
        var g = Grid.Create2D(6, 5, 1.5, 1.5);
        var v = Enumerable.Range(0, 60).Select(i => (float)(i * 0.1 - 2)).ToArray();
        var path = Path.Combine(_dir, "warp2d.nii");
        DisplacementFieldFile.Write(path, new DisplacementField(g, v));
        var back = DisplacementFieldFile.Read(path);
        Assert.Equal(2, back.Grid.Dimension);
        Assert.Equal(v, back.Values.ToArray());
    }

    [Fact]
    public void AnImageThatIsNotAFieldIsAClearError()
    {
        var path = Path.Combine(_dir, "img.nii");
        NiftiWriter.Write(new Image(Grid.Create3D(3, 3, 3), new float[27]), path);
        var e = Assert.Throws<ImageFormatException>(() => DisplacementFieldFile.Read(path));
        Assert.Contains("not a displacement field", e.Message);
    }

    [WorkbenchFact]
    public void WorkbenchReadsOurWarpAsTheSameRasField()
    {
        // wb_command's 'world' warpfield is the RAS displacement, one volume per component: it must equal our field.
        var f = KnownField(out var g);
        var itk = Path.Combine(_dir, "ours_warp.nii.gz");
        DisplacementFieldFile.Write(itk, f);
        var world = Path.Combine(_dir, "world.nii.gz");
        Workbench.Run("-convert-warpfield", "-from-itk", itk, "-to-world", world);
        var w = NiftiReader.Read(world);
        Assert.Equal(3, w.Volumes);
        Assert.True(w.Grid.GridToWorld.MaxAbsDifference(g.GridToWorld) < 1e-5);
        var values = f.Values;
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < g.VoxelCount; v++)
                Assert.True(Math.Abs(values[v * 3 + c] - w.Voxels[c * g.VoxelCount + v]) <= 1e-5, $"voxel {v}, component {c}");
    }

    [WorkbenchFact]
    public void WeReadWorkbenchItkWarpsAsTheSameRasField()
    {
        var f = KnownField(out var g);
        var n = g.VoxelCount;
        var planes = new float[n * 3];
        for (int c = 0; c < 3; c++) for (int v = 0; v < n; v++) planes[c * n + v] = f.Values[v * 3 + c];
        var world = Path.Combine(_dir, "in_world.nii.gz");
        NiftiWriter.Write(new Image(g, planes, 3), world);
        var itk = Path.Combine(_dir, "wb_warp.nii.gz");
        Workbench.Run("-convert-warpfield", "-from-world", world, "-to-itk", itk);
        var back = DisplacementFieldFile.Read(itk);
        Assert.True(back.Grid.SameAs(g, 1e-5));
        for (int i = 0; i < n * 3; i++) Assert.True(Math.Abs(f.Values[i] - back.Values[i]) <= 1e-5, $"value {i}");
    }
}
