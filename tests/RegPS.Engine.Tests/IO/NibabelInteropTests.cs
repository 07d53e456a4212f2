using System.Text.Json;
using System.Text.Json.Serialization;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Tests.TestSupport;
using static RegPS.Engine.Tests.IO.NiftiTestHelpers;

namespace RegPS.Engine.Tests.IO;

/// <summary>The files tests/interop/nifti_interop.py writes with nibabel, written once per test run.</summary>
public sealed class NibabelCases : IDisposable
{
    private readonly Lazy<Dictionary<string, NibabelCase>> _cases;

    public NibabelCases()
    {
        _cases = new Lazy<Dictionary<string, NibabelCase>>(() =>
        {
            string json = Python.Run("nifti_interop.py", "write", Dir.Path);
            var list = JsonSerializer.Deserialize<List<NibabelCase>>(json, Json.Options)!;
            return list.ToDictionary(c => c.Case);
        });
    }

    public TempDir Dir { get; } = new("regps-nibabel");
    public IReadOnlyDictionary<string, NibabelCase> Cases => _cases.Value;

    public void Dispose() => Dir.Dispose();
}

public sealed record NibabelCase(string Case, string File, int[] Shape, double[][] Affine, string Dtype, bool Rgb);

public sealed record NibabelDescription(
    string File, int[] Shape, double[][] Affine, double[][] Sform, double[][] Qform,
    [property: JsonPropertyName("sform_code")] int SformCode, [property: JsonPropertyName("qform_code")] int QformCode,
    string Dtype, double? Slope, double? Inter, string Descrip,
    [property: JsonPropertyName("intent_code")] int IntentCode, [property: JsonPropertyName("xyzt_units")] int XyztUnits,
    double[] Pixdim, int[] Dim, string Magic);

internal static class Json
{
    public static readonly JsonSerializerOptions Options = new() { PropertyNameCaseInsensitive = true };
}

public class NibabelInteropTests : IClassFixture<NibabelCases>
{
    private readonly NibabelCases _nib;

    public NibabelInteropTests(NibabelCases nib) => _nib = nib;

    public static readonly string[] CaseNames =
    {
        "uint8_le", "uint8_be", "int8_le", "int8_be", "int16_le", "int16_be", "uint16_le", "uint16_be",
        "int32_le", "int32_be", "uint32_le", "uint32_be", "int64_le", "int64_be", "uint64_le", "uint64_be",
        "float32_le", "float32_be", "float64_le", "float64_be",
        "nifti2_le", "nifti2_be", "nifti2_gz", "fourd", "fourd_gz", "vector5d",
        "scaled_int16_nibabel", "scaled_uint8_nibabel", "scaled_int16_manual",
        "qform_only", "qform_qfac_neg", "sform_shear", "pixdim_only", "pixdim_only_2d", "twod", "oneslice",
        "gz", "bz2", "pair", "pair_gz", "pair2", "multimember", "multistream_bz2", "extension", "rgb24", "rgb24_gz", "rgba32",
    };

    public static IEnumerable<object[]> Cases => CaseNames.Select(n => new object[] { n });

    [PythonFact("nibabel")]
    public void TheScriptWritesExactlyTheListedCases()
    {
        Assert.Equal(CaseNames.OrderBy(n => n), _nib.Cases.Keys.OrderBy(n => n));
    }

    /// <summary>
    /// The float64 cases hold float64's largest value at voxel 4 (nifti_interop.py's Values: NaN, inf, -inf, 0, max,
    /// tiny): finite on disk but far beyond float32, so RegPS refuses the file, naming it and the voxel, instead of
    /// returning infinity. True when <paramref name="name"/> is such a case (and the refusal was checked).
    /// </summary>
    private static bool RefusedBeyondFloat32(string name, string path)
    {
        if (!name.StartsWith("float64", StringComparison.Ordinal)) return false;
        var ex = Assert.Throws<ImageFormatException>(() => NiftiReader.Read(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("voxel 4 holds the float64 value 1.79769313E+308, beyond the float32 range", ex.Problem);
        return true;
    }

    [PythonTheory("nibabel")]
    [MemberData(nameof(Cases))]
    public void RegPSReadsWhatNibabelWrites(string name)
    {
        var c = _nib.Cases[name];
        if (RefusedBeyondFloat32(name, _nib.Dir.File(c.File))) return;
        var img = NiftiReader.Read(_nib.Dir.File(c.File));

        int nx = c.Shape[0], ny = c.Shape.Length > 1 ? c.Shape[1] : 1, nz = c.Shape.Length > 2 ? c.Shape[2] : 1;
        int volumes = c.Shape.Skip(3).Aggregate(1, (a, b) => a * b);
        Assert.Equal((nx, ny, nz), (img.Grid.NX, img.Grid.NY, img.Grid.NZ));
        Assert.Equal(volumes, img.Volumes);
        Assert.Equal(nz == 1 && volumes == 1 ? 2 : 3, img.Dimension);
        AssertMatrix(c.Affine, img.Grid.GridToWorld, 1e-6, $"{name} affine");
        Assert.Equal(c.Dtype, img.DataType);
        Assert.NotNull(img.SourceHeader);
        Assert.Equal(Path.GetFullPath(_nib.Dir.File(c.File)), img.SourcePath);

        var expected = ReadF64(_nib.Dir.File(c.Case + ".f64"));
        int total = img.Grid.VoxelCount * img.Volumes;
        if (c.Rgb)
        {
            Assert.True(img.IsColour);
            AssertVoxels(img.Voxels, expected.AsSpan(0, total), $"{name} luminance");
            AssertVoxels(img.ColourPlanes, expected.AsSpan(total, 3 * img.Grid.VoxelCount), $"{name} colour planes");
        }
        else
        {
            Assert.False(img.IsColour);
            AssertVoxels(img.Voxels, expected, name);
        }
    }

    [PythonTheory("nibabel")]
    [MemberData(nameof(Cases))]
    public void OneVolumeIsTheSameAsThatVolumeOfTheWhole(string name)
    {
        var c = _nib.Cases[name];
        string path = _nib.Dir.File(c.File);
        if (RefusedBeyondFloat32(name, path)) return;
        var all = NiftiReader.Read(path);
        int last = all.Volumes - 1;
        var one = NiftiReader.Read(path, last);
        Assert.Equal(1, one.Volumes);
        Assert.True(one.Grid.SameAs(all.Grid, 0));
        Assert.True(one.Voxels.SequenceEqual(all.Volume(last).Voxels) || AllCloseOrNaN(one.Voxels, all.Volume(last).Voxels));
        Assert.Throws<ArgumentOutOfRangeException>(() => NiftiReader.Read(path, all.Volumes));
        Assert.Equal(all.SourceHeader!.Dim, NiftiReader.ReadHeader(path).Dim);
    }

    private static bool AllCloseOrNaN(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++)
            if (!(a[i] == b[i] || (float.IsNaN(a[i]) && float.IsNaN(b[i])))) return false;
        return true;
    }

    [PythonFact("nibabel")]
    public void FiveDimensionalVectorFieldsSaySoInWarnings()
    {
        var img = NiftiReader.Read(_nib.Dir.File(_nib.Cases["vector5d"].File));
        Assert.Equal(3, img.Volumes);
        Assert.Contains(img.SourceHeader!.Warnings, w => w.Contains("vector field", StringComparison.Ordinal));
    }

    // ------------------------------------------------------------------ RegPS writes, nibabel reads

    public static IEnumerable<object[]> WriteCases => new[]
    {
        "float32_oblique.nii", "float32_oblique.nii.gz", "int16_source.nii", "int16_from_float.nii.gz", "uint8.nii",
        "twod.nii", "fourd.nii.gz", "sheared.nii", "qfac_negative.nii", "float64.nii", "nifti2_source.nii",
    }.Select(n => new object[] { n });

    /// <summary>Builds the image RegPS writes for a case and the type to write it with.</summary>
    private static (Image Image, NiftiDataType? Type) MakeWriteCase(string name, TempDir dir)
    {
        var obl = Oblique();
        switch (name)
        {
            case "float32_oblique.nii":
            case "float32_oblique.nii.gz":
                return (new Image(new Grid(7, 8, 9, obl), RandomVoxels(7 * 8 * 9, 1, withSpecials: true)), null);
            case "int16_source.nii":
            {
                // An int16 source with a slope/intercept, as read from disk, written back with its own type.
                string src = dir.File("int16_source_input.nii");
                NiftiWriter.Write(new Image(new Grid(7, 8, 9, obl), RandomVoxels(7 * 8 * 9, 2, 300)), src, NiftiDataType.Int16);
                var read = NiftiReader.Read(src);
                Assert.Equal("int16", read.DataType);
                Assert.NotEqual(1.0, read.SourceHeader!.SclSlope);
                return (read, NiftiDataType.Source);
            }
            case "int16_from_float.nii.gz":
                return (new Image(new Grid(7, 8, 9, obl), RandomVoxels(7 * 8 * 9, 3, 12.5, withSpecials: true)), NiftiDataType.Int16);
            case "uint8.nii":
                return (new Image(new Grid(7, 8, 9, obl), Enumerable.Range(0, 7 * 8 * 9).Select(i => (float)(i % 256)).ToArray()), NiftiDataType.UInt8);
            case "twod.nii":
                return (new Image(new Grid(10, 12, 1, Oblique(0.8, 0.9, 1, 0, 0, 0.3), 2), RandomVoxels(120, 4)), null);
            case "fourd.nii.gz":
                return (new Image(new Grid(6, 7, 8, obl), RandomVoxels(6 * 7 * 8 * 3, 5), 3), null);
            case "sheared.nii":
            {
                var m = obl.ToArray();
                m[1] += 0.4; // shear x by y
                return (new Image(new Grid(6, 7, 8, new Matrix4(m)), RandomVoxels(6 * 7 * 8, 6)), null);
            }
            case "qfac_negative.nii":
                return (new Image(new Grid(6, 7, 8, obl * Matrix4.Scaling(1, 1, -1)), RandomVoxels(6 * 7 * 8, 7)), null);
            case "float64.nii":
                return (new Image(new Grid(6, 7, 8, obl), RandomVoxels(6 * 7 * 8, 8)), NiftiDataType.Float64);
            case "nifti2_source.nii":
            {
                var h = new NiftiHeader { Version = 2, Magic = "n+2", Description = "from a NIfTI-2 file", XyztUnits = 10, SFormCode = 4, QFormCode = 1 };
                var img = new Image(new Grid(6, 7, 8, obl), RandomVoxels(6 * 7 * 8, 9), 1, null, null, "float32", h);
                return (img, NiftiDataType.Source);
            }
            default: throw new ArgumentException(name);
        }
    }

    [PythonTheory("nibabel")]
    [MemberData(nameof(WriteCases))]
    public void NibabelReadsWhatRegPSWrites(string name)
    {
        using var dir = new TempDir("regps-write");
        var (image, type) = MakeWriteCase(name, dir);
        string path = dir.File(name);
        NiftiWriter.Write(image, path, type);
        var back = NiftiReader.Read(path);

        string json = Python.Run("nifti_interop.py", "describe", path);
        var d = JsonSerializer.Deserialize<List<NibabelDescription>>(json, Json.Options)!.Single();

        // Shape
        var g = image.Grid;
        int[] shape = image.Volumes > 1 ? new[] { g.NX, g.NY, g.NZ, image.Volumes } : g.Shape;
        Assert.Equal(shape, d.Shape);
        // Affine: nibabel's img.affine is the sform, which holds the matrix at the header's precision.
        var stored = back.SourceHeader!.Version == 2 ? g.GridToWorld : ToFloat32(g.GridToWorld);
        AssertMatrix(d.Affine, stored, 1e-6, $"{name}: nibabel affine vs RegPS grid");
        AssertMatrix(d.Sform, stored, 1e-6, $"{name}: sform");
        AssertMatrix(d.Affine, back.Grid.GridToWorld, 1e-6, $"{name}: nibabel affine vs RegPS reading its own file");
        Assert.True(d.SformCode > 0);
        bool sheared = name == "sheared.nii";
        if (sheared) Assert.Equal(0, d.QformCode);
        else
        {
            Assert.True(d.QformCode > 0, $"{name}: qform_code {d.QformCode}");
            double scale = Math.Max(1, d.Sform.SelectMany(r => r).Max(Math.Abs));
            AssertMatrix(d.Sform, new Matrix4(d.Qform.SelectMany(r => r).ToArray()), 2e-6 * scale, $"{name}: qform vs sform");
        }

        // Values: nibabel's get_fdata agrees with what RegPS reads back (same file, same rules) ...
        var nibValues = ReadF64(path + ".f64");
        AssertVoxels(back.Voxels, nibValues, $"{name}: RegPS read-back vs nibabel");
        // ... and with what RegPS wrote, to the precision of the stored type.
        double step = d.Slope is { } s ? Math.Abs(s) : 1;
        bool integer = d.Dtype.Contains("int", StringComparison.Ordinal);
        var src = image.Voxels;
        for (int i = 0; i < src.Length; i++)
        {
            if (float.IsNaN(src[i]))
            {
                if (integer) Assert.True(Math.Abs(nibValues[i]) <= step / 2 + 1e-9, $"{name}: NaN stored as {nibValues[i]}");
                else Assert.True(double.IsNaN(nibValues[i]), $"{name}: NaN lost at {i}");
                continue;
            }
            double tol = integer ? step / 2 * (1 + 1e-6) + 1e-9 : 0;
            Assert.True(Math.Abs(nibValues[i] - src[i]) <= tol, $"{name}: voxel {i} written {src[i]:R}, nibabel reads {nibValues[i]:R} (tolerance {tol})");
        }

        switch (name)
        {
            case "twod.nii":
                Assert.Equal(2, d.Dim[0]);
                break;
            case "int16_source.nii":
                Assert.Equal("int16", d.Dtype);
                Assert.Equal(image.SourceHeader!.SclSlope, d.Slope!.Value, 12);
                Assert.Equal(image.SourceHeader!.SclInter, d.Inter!.Value, 12);
                break;
            case "uint8.nii":
                Assert.Equal("uint8", d.Dtype);
                Assert.Equal(1.0, d.Slope ?? 1.0);
                break;
            case "float64.nii":
                Assert.Equal("float64", d.Dtype);
                break;
            case "nifti2_source.nii":
                Assert.Equal("n+2", d.Magic);
                Assert.Equal("from a NIfTI-2 file", d.Descrip);
                Assert.Equal(10, d.XyztUnits);
                Assert.Equal(4, d.SformCode);
                Assert.Equal(1, d.QformCode);
                break;
            case "qfac_negative.nii":
                Assert.Equal(-1.0, d.Pixdim[0]);
                break;
        }
    }

    [PythonFact("nibabel")]
    public void NibabelFilesRoundTripThroughRegPSWithTheirHeaderFields()
    {
        // Read a nibabel file, write it back as its source type, and let nibabel compare.
        using var dir = new TempDir("regps-roundtrip");
        foreach (var name in new[] { "scaled_int16_manual", "int16_be", "qform_only", "fourd_gz", "vector5d", "uint8_le" })
        {
            var c = _nib.Cases[name];
            var img = NiftiReader.Read(_nib.Dir.File(c.File));
            string outPath = dir.File(name + ".nii.gz");
            NiftiWriter.Write(img, outPath, NiftiDataType.Source);
            var d = JsonSerializer.Deserialize<List<NibabelDescription>>(Python.Run("nifti_interop.py", "describe", outPath), Json.Options)!.Single();
            Assert.Equal(c.Shape, d.Shape);
            Assert.Equal(c.Dtype, d.Dtype);
            AssertMatrix(c.Affine, new Matrix4(d.Affine.SelectMany(r => r).ToArray()), 1e-5, $"{name} affine after round trip");
            AssertVoxels(img.Voxels, ReadF64(outPath + ".f64"), $"{name} values after round trip");
        }
    }
}
