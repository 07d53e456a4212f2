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
        Assert.Contains("Transform: AffineTransform_double_3_3", text);
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
        Assert.Contains("AffineTransform_double_2_2", File.ReadAllText(Path.Combine(_dir, "two.txt")));
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
        // wb_command knows the ITK affine class as MatrixOffsetTransformBase (same parameter layout as AffineTransform).
        var itk = Path.Combine(_dir, "ours.txt");
        File.WriteAllText(itk, AffineFile.ToItkText(Known, 3).Replace("AffineTransform_double_3_3", "MatrixOffsetTransformBase_double_3_3"));
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
