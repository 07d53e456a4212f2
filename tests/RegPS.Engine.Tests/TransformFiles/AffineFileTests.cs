using RegPS.Engine.Tests.TestSupport;
using System.Globalization;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.TransformFiles;

namespace RegPS.Engine.Tests.TransformFiles;

public class AffineFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-xfm-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    // A rotation about two axes, anisotropic scale, shear and a translation: every entry of the matrix is non-trivial.
    private static readonly Matrix4 Known = new(new double[]
    {
        0.98, -0.12, 0.05, 10.5,
        0.14, 1.03, -0.08, -7.25,
        -0.04, 0.09, 0.95, 3.125,
        0, 0, 0, 1,
    });

    [Theory]
    [InlineData("a.txt", AffineFileFormat.ItkText)]
    [InlineData("a.tfm", AffineFileFormat.ItkText)]
    [InlineData("a.mat", AffineFileFormat.AntsMat)]
    [InlineData("a.ras", AffineFileFormat.RasMatrix)]
    public void RoundTripsEveryFormat(string name, AffineFileFormat expected)
    {
        var path = Path.Combine(_dir, name);
        Assert.Equal(expected, AffineFile.FormatFromPath(path));
        AffineFile.Write(path, Known, 3);
        var back = AffineFile.Read(path, out int dim);
        Assert.Equal(3, dim);
        Assert.True(back.MaxAbsDifference(Known) < 1e-12, $"{back} != {Known}");
    }

    [Fact]
    public void ItkTextIsInLpsWithTheExpectedLayout()
    {
        var text = AffineFile.ToItkText(Matrix4.Translation(1, 2, 3), 3);
        Assert.Contains("Transform: MatrixOffsetTransformBase_double_3_3", text);
        // RAS translation (1,2,3) is LPS (-1,-2,3); identity matrix first, row-major.
        Assert.Contains("Parameters: 1 0 0 0 1 0 0 0 1 -1 -2 3", text);
        Assert.Contains("FixedParameters: 0 0 0", text);
    }

    [Fact]
    public void NaNInAnAntsMatIsRefusedNamingTheFileAsTheItkReaderDoes()
    {
        var mat = Path.Combine(_dir, "nan.mat");
        var bytes = AffineFile.ToAntsMat(Matrix4.Identity, 3);
        // The first parameter of AffineTransform_double_3_3 follows its 20-byte record header and 26-byte name.
        System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(20 + "AffineTransform_double_3_3".Length + 1), double.NaN);
        File.WriteAllBytes(mat, bytes);
        var ex = Assert.Throws<ImageFormatException>(() => AffineFile.Read(mat, out _));
        Assert.Equal(mat, ex.FilePath);
        Assert.Contains("NaN", ex.Problem);

        var txt = Path.Combine(_dir, "nan.txt");
        File.WriteAllText(txt, "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\nParameters: nan 0 0 0 1 0 0 0 1 0 0 0\nFixedParameters: 0 0 0\n");
        Assert.Equal(txt, Assert.Throws<ImageFormatException>(() => AffineFile.Read(txt, out _)).FilePath);
    }

    [Theory]
    [InlineData("singular.txt")]
    [InlineData("singular.mat")]
    [InlineData("singular.ras")]
    public void ASingularMatrixIsRefusedNamingTheFile(string name)
    {
        var path = Path.Combine(_dir, name);
        // Rank 2: the third column is the sum of the first two.
        var singular = new Matrix4(new double[] { 1, 0, 1, 5, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1 });
        var bytes = AffineFile.FormatFromPath(path) switch
        {
            AffineFileFormat.ItkText => System.Text.Encoding.ASCII.GetBytes(AffineFile.ToItkText(singular, 3)),
            AffineFileFormat.AntsMat => AffineFile.ToAntsMat(singular, 3),
            _ => System.Text.Encoding.ASCII.GetBytes(AffineFile.ToRasText(singular)),
        };
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<ImageFormatException>(() => AffineFile.Read(path, out _));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("singular", ex.Problem);
    }

    [Fact]
    public void ReadsACentredItkTransform()
    {
        // y = M (x - c) + t + c in LPS, with M a 90 degree rotation about z, c = (10, 0, 0), t = 0:
        // the LPS point c maps to itself.
        var path = Path.Combine(_dir, "c.txt");
        File.WriteAllText(path, "#Insight Transform File V1.0\n#Transform 0\nTransform: MatrixOffsetTransformBase_double_3_3\n" +
            "Parameters: 0 -1 0 1 0 0 0 0 1 0 0 0\nFixedParameters: 10 0 0\n");
        var ras = AffineFile.Read(path, out _);
        var (x, y, z) = ras.Apply(-10, 0, 0); // LPS (10,0,0) is RAS (-10,0,0)
        Assert.Equal(-10, x, 12); Assert.Equal(0, y, 12); Assert.Equal(0, z, 12);
    }

    [Fact]
    public void TwoDimensionalItkFilesKeepTheirDimension()
    {
        var m2 = new Matrix4(new double[] { 0.9, -0.2, 0, 4, 0.2, 0.9, 0, -3, 0, 0, 1, 0, 0, 0, 0, 1 });
        foreach (var name in new[] { "two.txt", "two.mat" })
        {
            var p = Path.Combine(_dir, name);
            AffineFile.Write(p, m2, 2);
            var back = AffineFile.Read(p, out int dim);
            Assert.Equal(2, dim);
            Assert.True(back.MaxAbsDifference(m2) < 1e-12);
        }
        Assert.Contains("MatrixOffsetTransformBase_double_2_2", File.ReadAllText(Path.Combine(_dir, "two.txt")));
    }

    [Theory]
    [InlineData("#Insight Transform File V1.0\nTransform: BSplineTransform_double_3_3\nParameters: 1\n", "unsupported transform type")]
    [InlineData("#Insight Transform File V1.0\nTransform: AffineTransform_double_3_3\nParameters: 1 0 0\nFixedParameters: 0 0 0\n", "expected 12 Parameters")]
    [InlineData("#Insight Transform File V1.0\nTransform: AffineTransform_double_3_3\nParameters: 1 0 0 0 1 0 0 0 1 0 0 nan\n", "not a finite number")]
    [InlineData("1 0 0\n0 1 0\n", "expected a 4x4")]
    [InlineData("1 0 0 0\n0 1 0 0\n0 0 1 0\n1 0 0 1\n", "last row")]
    public void BadFilesNameTheProblem(string content, string problem)
    {
        var p = Path.Combine(_dir, "bad.txt");
        File.WriteAllText(p, content);
        var e = Assert.Throws<ImageFormatException>(() => AffineFile.Read(p, out _));
        Assert.Contains(problem, e.Message);
        Assert.Contains(p, e.Message);
    }

    [Theory]
    [InlineData("a.h5x")]
    [InlineData("a.xfm")]
    [InlineData("a")]
    public void AnUnknownExtensionIsAnErrorNotAnotherFormat(string name)
    {
        var p = Path.Combine(_dir, name);
        var e = Assert.Throws<ArgumentException>(() => AffineFile.Write(p, Known, 3));
        Assert.Contains("unknown transform file extension", e.Message);
        Assert.False(File.Exists(p));
    }

    [Fact]
    public void AGzipReadAsATransformSaysSo()
    {
        // What a user gets who passes antsRegistration's 1Warp.nii.gz where a matrix is expected.
        var p = Path.Combine(_dir, "1Warp.txt");
        using (var f = File.Create(p))
        using (var gz = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
            gz.Write(new byte[4096]);
        var e = Assert.Throws<ImageFormatException>(() => AffineFile.Read(p, out _));
        Assert.Contains("gzip-compressed", e.Message);
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void AnHdf5ReadAsATextTransformSaysSo()
    {
        var p = Path.Combine(_dir, "x.txt");
        File.WriteAllBytes(p, new byte[] { 0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0 });
        var e = Assert.Throws<ImageFormatException>(() => AffineFile.Read(p, out _));
        Assert.Contains("HDF5", e.Message);
    }

    // Expected matrices below are written out by hand from ITK's definitions, not computed by RegPS.
    [Theory]
    // Euler3D: 90 degrees about z, centre (10, 0, 0), translation (1, 2, 3). LPS x -> M (x - c) + t + c with
    // M = [0 -1 0; 1 0 0; 0 0 1], so LPS (11, 0, 0) -> (10, 1, 0) + (1, 2, 3) = (11, 3, 3).
    [InlineData("Euler3DTransform_double_3_3", "0 0 1.5707963267948966 1 2 3", "10 0 0", 11, 0, 0, 11, 3, 3)]
    // Euler3D with the 4th fixed parameter (ComputeZYX = 0, the default order): the same.
    [InlineData("Euler3DTransform_double_3_3", "0 0 1.5707963267948966 1 2 3", "10 0 0 0", 11, 0, 0, 11, 3, 3)]
    // VersorRigid3D: the same rotation as a versor (0, 0, sin 45 deg).
    [InlineData("VersorRigid3DTransform_double_3_3", "0 0 0.7071067811865476 1 2 3", "10 0 0", 11, 0, 0, 11, 3, 3)]
    // Similarity3D: the same rotation and scale 2: (11,0,0) - c = (1,0,0) -> (0,2,0) + t + c = (11, 4, 3).
    [InlineData("Similarity3DTransform_double_3_3", "0 0 0.7071067811865476 1 2 3 2", "10 0 0", 11, 0, 0, 11, 4, 3)]
    // 90 degrees about x: (0, 1, 0) -> (0, 0, 1).
    [InlineData("Euler3DTransform_double_3_3", "1.5707963267948966 0 0 0 0 0", "0 0 0", 0, 1, 0, 0, 0, 1)]
    // 90 degrees about y: (0, 0, 1) -> (1, 0, 0).
    [InlineData("Euler3DTransform_double_3_3", "0 1.5707963267948966 0 0 0 0", "0 0 0", 0, 0, 1, 1, 0, 0)]
    // Rx(90) then Rz(90) under ITK's default M = Rz Rx Ry: (0, 1, 0) -Rx-> (0, 0, 1) -Rz-> (0, 0, 1).
    // ... and (1, 0, 0) -Ry(0)-> (1, 0, 0) -Rx-> (1, 0, 0) -Rz-> (0, 1, 0).
    [InlineData("Euler3DTransform_double_3_3", "1.5707963267948966 0 1.5707963267948966 0 0 0", "0 0 0", 1, 0, 0, 0, 1, 0)]
    // Ry(90) and Rz(90), default order Z X Y: (0, 0, 1) -Ry-> (1, 0, 0) -Rz-> (0, 1, 0).
    [InlineData("Euler3DTransform_double_3_3", "0 1.5707963267948966 1.5707963267948966 0 0 0", "0 0 0", 0, 0, 1, 0, 1, 0)]
    // Rx(90) and Ry(90): default Z X Y applies Ry first: (0, 1, 0) -Ry-> (0, 1, 0) -Rx-> (0, 0, 1).
    [InlineData("Euler3DTransform_double_3_3", "1.5707963267948966 1.5707963267948966 0 0 0 0", "0 0 0 0", 0, 1, 0, 0, 0, 1)]
    // ... and with ComputeZYX = 1 (M = Rz Ry Rx) Rx comes first: (0, 1, 0) -Rx-> (0, 0, 1) -Ry-> (1, 0, 0).
    [InlineData("Euler3DTransform_double_3_3", "1.5707963267948966 1.5707963267948966 0 0 0 0", "0 0 0 1", 0, 1, 0, 1, 0, 0)]
    [InlineData("TranslationTransform_double_3_3", "1 2 3", "", 5, 5, 5, 6, 7, 8)]
    [InlineData("AffineTransform_double_3_3", "2 0 0 0 2 0 0 0 2 0 0 0", "1 1 1", 2, 1, 1, 3, 1, 1)]
    public void ReadsTheCommonItkTypes(string type, string parameters, string fixedParameters,
        double x, double y, double z, double ex, double ey, double ez)
    {
        var path = Path.Combine(_dir, "t.tfm");
        File.WriteAllText(path, $"#Insight Transform File V1.0\n#Transform 0\nTransform: {type}\nParameters: {parameters}\nFixedParameters: {fixedParameters}\n");
        var ras = AffineFile.Read(path, out int dim);
        Assert.Equal(3, dim);
        // LPS (x, y, z) is RAS (-x, -y, z).
        var (rx, ry, rz) = ras.Apply(-x, -y, z);
        Assert.Equal(-ex, rx, 9); Assert.Equal(-ey, ry, 9); Assert.Equal(ez, rz, 9);
    }

    [Fact]
    public void ReadsAnEuler3DTransformFromAnItkMatFile()
    {
        // MATLAB v4 as ITK's MatlabTransformIO writes it, built byte by byte here: a 6x1 double variable named after
        // the type, then 'fixed' (3x1). 90 degrees about z, centre (10, 0, 0), translation (1, 2, 3): LPS (11, 0, 0) -> (11, 3, 3).
        var p = Path.Combine(_dir, "euler.mat");
        using (var w = new BinaryWriter(File.Create(p)))
        {
            void Var(string name, double[] v)
            {
                w.Write(0); w.Write(v.Length); w.Write(1); w.Write(0); w.Write(name.Length + 1);
                w.Write(System.Text.Encoding.ASCII.GetBytes(name)); w.Write((byte)0);
                foreach (var x in v) w.Write(x);
            }
            Var("Euler3DTransform_double_3_3", new[] { 0, 0, Math.PI / 2, 1, 2, 3 });
            Var("fixed", new double[] { 10, 0, 0 });
        }
        var ras = AffineFile.Read(p, out int dim);
        Assert.Equal(3, dim);
        var (x, y, z) = ras.Apply(-11, 0, 0);
        Assert.Equal(-11, x, 9); Assert.Equal(-3, y, 9); Assert.Equal(3, z, 9);
    }

    [Fact]
    public void TruncatedMatFileIsAnError()
    {
        var p = Path.Combine(_dir, "t.mat");
        AffineFile.Write(p, Known, 3);
        var bytes = File.ReadAllBytes(p);
        File.WriteAllBytes(p, bytes[..60]);
        var e = Assert.Throws<ImageFormatException>(() => AffineFile.Read(p, out _));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void RefusesToOverwriteAndLeavesNoTemporaryFile()
    {
        var p = Path.Combine(_dir, "x.mat");
        AffineFile.Write(p, Known, 3);
        Assert.Throws<IOException>(() => AffineFile.Write(p, Matrix4.Identity, 3));
        Assert.True(AffineFile.Read(p, out _).MaxAbsDifference(Known) < 1e-12);
        Assert.Single(Directory.GetFiles(_dir));
    }

    private static Matrix4 ReadWorld(string path) =>
        new(File.ReadAllText(path).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray());

    [WorkbenchFact]
    public void WorkbenchReadsOurItkFileAsTheSameWorldMatrix()
    {
        // wb_command 1.5 knows the ITK affine class only as MatrixOffsetTransformBase: the file is used exactly as written.
        var itk = Path.Combine(_dir, "ours.txt");
        AffineFile.Write(itk, Known, 3);
        var world = Path.Combine(_dir, "world.txt");
        // ITK maps target (static) points to source (moving) points: that is wb's 'target to source' (-inverse) world matrix.
        Workbench.Run("-convert-affine", "-from-itk", itk, "-to-world", world, "-inverse");
        Assert.True(ReadWorld(world).MaxAbsDifference(Known) < 1e-6); // wb_command computes in float32
    }

    [WorkbenchFact]
    public void WeReadWorkbenchItkFilesAsTheSameWorldMatrix()
    {
        var world = Path.Combine(_dir, "in-world.txt");
        File.WriteAllText(world, AffineFile.ToRasText(Known));
        var itk = Path.Combine(_dir, "wb.txt");
        Workbench.Run("-convert-affine", "-from-world", world, "-inverse", "-to-itk", itk);
        Assert.True(AffineFile.Read(itk, out _).MaxAbsDifference(Known) < 1e-6); // wb_command computes in float32
    }
}
