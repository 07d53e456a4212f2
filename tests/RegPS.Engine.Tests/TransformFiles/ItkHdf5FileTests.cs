using System.Text.Json;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.Tests.TestSupport;
using RegPS.Engine.TransformFiles;
using RegPS.Engine.Transforms;

namespace RegPS.Engine.Tests.TransformFiles;

public class ItkHdf5FileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-h5-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly Matrix4 Known = new(new double[]
    {
        0.98, -0.12, 0.05, 10.5,
        0.14, 1.03, -0.08, -7.25,
        -0.04, 0.09, 0.95, 3.125,
        0, 0, 0, 1,
    });

    // An oblique grid (columns (-2,0,0), (0.1,-2,0), (0,0.2,2.5)) and a smooth field whose components all differ.
    private static DisplacementField KnownField()
    {
        var g = new Grid(9, 8, 7, new Matrix4(new double[] { -2, 0.1, 0, 90, 0, -2, 0.2, 120, 0, 0, 2.5, -60, 0, 0, 0, 1 }));
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

    private static TransformChain AffineAndWarp() =>
        new(new TransformStep[] { new AffineStep(Known), new DisplacementFieldStep(KnownField()) });

    [Fact]
    public void RoundTripsAnAffineAndAWarp()
    {
        var path = Path.Combine(_dir, "xfm.h5");
        TransformFile.Save(path, AffineAndWarp());
        var back = TransformFile.Load(path);
        Assert.Equal(2, back.Steps.Count);
        var a = Assert.IsType<AffineStep>(back.Steps[0]);
        Assert.True(a.Matrix.MaxAbsDifference(Known) < 1e-12);
        var f = Assert.IsType<DisplacementFieldStep>(back.Steps[1]);
        Assert.True(f.Field.Grid.SameAs(KnownField().Grid, 1e-12));
        Assert.Equal(KnownField().Values.ToArray(), f.Field.Values.ToArray());
        Assert.Throws<IOException>(() => TransformFile.Save(path, AffineAndWarp()));
    }

    [PythonFact("h5py", "numpy")]
    public void H5pySeesItksLayoutAndValues()
    {
        var path = Path.Combine(_dir, "sub-01_from-T1w_to-X_mode-image_xfm.h5");
        TransformFile.Save(path, AffineAndWarp());
        using var doc = JsonDocument.Parse(Python.Run("itk_h5.py", "dump", path));
        var groups = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(new[] { "0", "1", "2" }, groups.Select(g => g.GetProperty("name").GetString()));
        Assert.Equal("CompositeTransform_double_3_3", groups[0].GetProperty("type").GetString());
        Assert.Equal(new[] { "TransformType" }, groups[0].GetProperty("members").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("AffineTransform_double_3_3", groups[1].GetProperty("type").GetString());
        Assert.Equal("DisplacementFieldTransform_float_3_3", groups[2].GetProperty("type").GetString());
        foreach (var g in groups) Assert.Equal(1, g.GetProperty("typeShape")[0].GetInt32());

        // Affine: LPS = F A F with F = diag(-1, -1, 1): the entries that mix z with x or y change sign, as do the
        // x and y translations. Written out from Known by hand.
        var affine = groups[1].GetProperty("TransformParameters");
        Assert.Equal("float64", affine.GetProperty("dtype").GetString());
        var expected = new[] { 0.98, -0.12, -0.05, 0.14, 1.03, 0.08, 0.04, -0.09, 0.95, -10.5, 7.25, 3.125 };
        var got = affine.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 12);
        Assert.Equal(new[] { 0.0, 0, 0 }, groups[1].GetProperty("TransformFixedParameters").GetProperty("values").EnumerateArray().Select(e => e.GetDouble()));

        // Field grid: size, LPS origin (-90, -120, -60), spacing (column norms), LPS direction (F times the unit columns).
        var fixedPars = groups[2].GetProperty("TransformFixedParameters");
        Assert.Equal("float64", fixedPars.GetProperty("dtype").GetString());
        var fp = fixedPars.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double s1 = Math.Sqrt(0.01 + 4), s2 = Math.Sqrt(0.04 + 6.25);
        var expectedFixed = new[] { 9, 8, 7, -90, -120, -60, 2, s1, s2, 1, -0.1 / s1, 0, 0, 2 / s1, -0.2 / s2, 0, 0, 2.5 / s2 };
        Assert.Equal(18, fp.Length);
        for (int i = 0; i < 18; i++) Assert.Equal(expectedFixed[i], fp[i], 9);
        // Field vectors: float32, x fastest, components interleaved, LPS (x and y negated).
        var pars = groups[2].GetProperty("TransformParameters");
        Assert.Equal("float32", pars.GetProperty("dtype").GetString());
        Assert.Equal(9 * 8 * 7 * 3, pars.GetProperty("shape")[0].GetInt32());
        var head = pars.GetProperty("head").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var field = KnownField();
        for (int i = 0; i < 4; i++)
        {
            var (x, y, z) = field[i, 0, 0];
            Assert.Equal(-x, head[3 * i], 5); Assert.Equal(-y, head[3 * i + 1], 5); Assert.Equal(z, head[3 * i + 2], 5);
        }
    }

    [PythonFact("h5py", "nibabel", "numpy")]
    public void ACompositeWrittenByH5pyAppliesLikeItsParts()
    {
        // The parts in the formats wb_command has checked (ITK text affine, ITK displacement NIfTI); the test script
        // builds the ITK composite from them with h5py and nibabel alone.
        string txt = Path.Combine(_dir, "0GenericAffine.txt"), warp = Path.Combine(_dir, "1Warp.nii.gz"), h5 = Path.Combine(_dir, "Composite.h5");
        var a = new Matrix4(new double[] { 0.99, -0.05, 0.02, 3, 0.05, 0.99, 0, -2, -0.02, 0, 1.01, 1.5, 0, 0, 0, 1 });
        AffineFile.Write(txt, a, 3);
        DisplacementFieldFile.Write(warp, KnownField());
        Python.Run("itk_h5.py", "compose", h5, txt, warp);
        var composite = TransformFile.Load(h5);
        Assert.Equal(2, composite.Steps.Count);
        var parts = TransformChain.Concat(new[] { (TransformFile.Load(txt), false), (TransformFile.Load(warp), false) });
        var g = KnownField().Grid;
        var v = new float[g.VoxelCount];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(50 + 30 * Math.Sin(i * 0.37) + i % 11);
        var image = new Image(g, v);
        var viaH5 = ChainResampler.Apply(image, g, composite, Interpolation.Linear);
        var viaParts = ChainResampler.Apply(image, g, parts, Interpolation.Linear);
        var identity = ChainResampler.Apply(image, g, new TransformChain(Array.Empty<TransformStep>()), Interpolation.Linear);
        double diff = 0, moved = 0;
        for (int i = 0; i < v.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(viaH5.Voxels[i] - viaParts.Voxels[i]));
            moved = Math.Max(moved, Math.Abs(viaH5.Voxels[i] - identity.Voxels[i]));
        }
        Assert.True(diff < 1e-3, $"composite vs parts: {diff}");
        Assert.True(moved > 1, "the transforms should move the image");
    }

    [Fact]
    public void ReadsAnInverseAndApplyingBothIsTheIdentityAwayFromTheBorders()
    {
        // The inverse composite of [A] is [A^-1]; saving a chain and its inverse and applying both returns the image.
        var path = Path.Combine(_dir, "inv.h5");
        var chain = new TransformChain(new[] { new AffineStep(Known) });
        TransformFile.Save(path, chain.Inverse());
        var inv = TransformFile.Load(path);
        var m = Assert.IsType<AffineStep>(Assert.Single(inv.Steps)).Matrix;
        Assert.True((m * Known).MaxAbsDifference(Matrix4.Identity) < 1e-12);
    }

    [Theory]
    [InlineData("not-hdf5.h5", "not an HDF5 file")]
    [InlineData("gz.h5", "gzip")]
    public void BadFilesNameTheProblem(string name, string problem)
    {
        var p = Path.Combine(_dir, name);
        if (name.StartsWith("gz", StringComparison.Ordinal)) File.WriteAllBytes(p, new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 });
        else File.WriteAllText(p, "#Insight Transform File V1.0\n");
        var e = Assert.Throws<ImageFormatException>(() => TransformFile.Load(p));
        Assert.Contains(problem, e.Message);
        Assert.Contains(p, e.Message);
    }

    // The layouts h5py (libhdf5) writes an ITK file in all pass the structure check PureHDF's reading is guarded by, and
    // read to the values written; the one layout the check refuses (links in dense storage, which needs libhdf5's
    // newest format and more than 8 transforms) is refused naming the file and why.
    [PythonFact("h5py", "numpy")]
    public void EveryLayoutH5pyWritesReadsExceptDenseLinkStorage()
    {
        var names = Python.Run("itk_h5.py", "layouts", _dir).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(8, names.Length);
        var parameters = new[] { 2, 0.1, 0, 0, 3, 0.2, 0.3, 0, 4, 5, 6, 7 };
        foreach (var name in names.Where(n => n != "dense.h5"))
        {
            var records = ItkHdf5File.ReadRecords(Path.Combine(_dir, name));
            Assert.Equal(name == "many.h5" ? 10 : 1, records.Count);
            foreach (var r in records)
            {
                Assert.Equal("AffineTransform_double_3_3", r.Type);
                Assert.Equal(parameters, r.Parameters);
                Assert.Equal(new[] { 0.5, 0.25, 0.125 }, r.FixedParameters);
            }
        }
        var dense = Path.Combine(_dir, "dense.h5");
        var e = Assert.Throws<ImageFormatException>(() => ItkHdf5File.ReadRecords(dense));
        Assert.Contains(dense, e.Message);
        Assert.Contains("dense storage", e.Message);
    }

    // Two structures PureHDF follows without end, so that the stack overflows and the process dies (checked by hand on
    // PureHDF 2.2.0 without RegPS's check): an object header whose continuation chunk is itself, and a group B-tree node
    // that names itself as its child. Both are made from the h5py-written file in tests/fuzz/h5 by changing a few bytes
    // (the root group's symbol table message into a continuation to its own chunk; the root B-tree node's level to 1
    // and its child to itself) and are kept there too, where the fuzzing tests replay them.
    [Theory]
    [InlineData("continuation-chunk-looping-back.h5", "loop back")]
    [InlineData("group-btree-pointing-at-itself.h5", "level 1 where its parent needs 0")]
    public void StructuresPureHdfWouldFollowForeverAreRefused(string name, string problem)
    {
        var path = Path.Combine(_dir, name);
        File.Copy(Path.Combine(FuzzInputs, name), path);
        var e = Assert.Throws<ImageFormatException>(() => TransformFile.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(problem, e.Message);
    }

    // The file those two are made from is sound: it reads, to the values h5py reads from it.
    [PythonFact("h5py", "numpy")]
    public void TheH5pyFileThoseAreMadeFromReadsAsH5pyReadsIt()
    {
        var path = Path.Combine(FuzzInputs, "h5py-itk-affine.h5");
        var records = ItkHdf5File.ReadRecords(path);
        using var doc = JsonDocument.Parse(Python.Run("itk_h5.py", "dump", path));
        var groups = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(groups.Length, records.Count);
        for (int i = 0; i < groups.Length; i++)
        {
            Assert.Equal(groups[i].GetProperty("type").GetString(), records[i].Type);
            if (groups[i].TryGetProperty("TransformParameters", out var p))
                Assert.Equal(p.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()), records[i].Parameters);
        }
        Assert.Contains(records, r => r.Parameters.Length == 12);
    }

    private static string FuzzInputs
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "tests", "fuzz", "h5");
                if (Directory.Exists(candidate)) return candidate;
            }
            throw new DirectoryNotFoundException("tests/fuzz/h5 not found above " + AppContext.BaseDirectory);
        }
    }

    [Fact]
    public void AnUnknownExtensionIsAnError()
    {
        var p = Path.Combine(_dir, "x.xfm");
        Assert.Throws<ArgumentException>(() => TransformFile.Save(p, AffineAndWarp()));
        File.WriteAllText(p, "1 0 0 0\n");
        var e = Assert.Throws<ImageFormatException>(() => TransformFile.Load(p));
        Assert.Contains("unknown transform file extension", e.Message);
        Assert.Throws<ArgumentException>(() => TransformFile.Save(Path.Combine(_dir, "two.txt"), AffineAndWarp()));
    }
}
