using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using Xunit.Abstractions;

namespace RegPS.Engine.Tests.Registration.Affine;

public class AffineRegistrationTests
{
    private readonly ITestOutputHelper _out;
    public AffineRegistrationTests(ITestOutputHelper output) => _out = output;

    // 2D: 128x128 pixels of 1 mm with the file origin at the image corner (the default grid matrix).
    private static readonly Grid Grid2 = Grid.Create2D(128, 128);
    private static readonly double[] Centre2 = { 63.5, 63.5, 0 };
    private static Phantom Phantom2() => new(7, Centre2, new[] { 50.0, 58.0, 50.0 });

    private (AffineMap Map, double Error) Register2D(Matrix4 truth, Func<double, double>? remap, AffineOptions options)
    {
        var ph = Phantom2();
        var fixedImage = ph.Sample(Grid2, Matrix4.Identity);
        var moving = ph.Sample(Grid2, truth, remap);
        var map = AffineRegistration.Register(fixedImage, moving, options);
        double err = Phantom.MeanDisplacementError(Grid2, map.Affine, truth);
        _out.WriteLine($"error {err:F4} px, MI {map.Metric:F4}, evals [{string.Join(",", map.IterationsPerLevel)}], {map.Elapsed.TotalMilliseconds:F0} ms");
        _out.WriteLine(map.Affine.ToString());
        return (map, err);
    }

    [Fact]
    public void Rigid2D_Rotation10Shift13x17_CornerOrigin_Recovered()
    {
        // 10 degrees about the image centre and (13, 17) px, like ITK's BrainProtonDensitySliceR10X13Y17.
        var truth = Phantom.Centred(Phantom.RotZ(10), new[] { 13.0, 17, 0 }, Centre2);
        var (map, err) = Register2D(truth, null, new AffineOptions { Stages = new[] { TransformType.Translation, TransformType.Rigid } });
        Assert.True(err < 0.1, $"mean displacement error {err} px");
        Assert.Equal(new[] { "center_of_mass", "translation", "rigid" }, map.Stages);
        Assert.Equal(6, map.IterationsPerLevel.Length);
    }

    [Fact]
    public void Affine2D_DefaultPipeline_Recovered()
    {
        var lin = Phantom.Mul(Phantom.RotZ(-8), new[] { 1.07, 0.05, 0, -0.03, 0.94, 0, 0, 0, 1 });
        var truth = Phantom.Centred(lin, new[] { -6.0, 9, 0 }, Centre2);
        var (_, err) = Register2D(truth, null, new AffineOptions());
        Assert.True(err < 0.1, $"mean displacement error {err} px");
    }

    [Fact]
    public void Affine2D_Multimodal_NonMonotonicLookup_Recovered()
    {
        // A non-monotonic lookup (dark background stays dark, mid intensities become brightest, bright ones dark again):
        // no monotonic intensity relation exists, so only a statistical metric can align the pair.
        var lin = Phantom.Mul(Phantom.RotZ(7), new[] { 0.96, -0.04, 0, 0.02, 1.05, 0, 0, 0, 1 });
        var truth = Phantom.Centred(lin, new[] { 5.0, -8, 0 }, Centre2);
        var (_, err) = Register2D(truth, v => Math.Pow(Math.Sin(Math.PI * v / 1.2), 2), new AffineOptions());
        Assert.True(err < 0.1, $"mean displacement error {err} px");
    }
}
