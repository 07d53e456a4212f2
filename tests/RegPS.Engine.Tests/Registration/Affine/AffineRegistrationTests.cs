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
        Assert.Equal(3 + 4, map.IterationsPerLevel.Length); // the early (translation) stage skips the finest level
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

    [Fact]
    public void Affine2D_InvertedContrast_BrightBackground_RecoveredWhenOutsideSamplesExcluded()
    {
        // v -> 1 - v^2: the background becomes the brightest intensity, unlike DIPY's zero padding outside the moving
        // image. Counting those samples as 0 biases the optimum (about 0.1 px here); leaving them out does not.
        var lin = Phantom.Mul(Phantom.RotZ(7), new[] { 0.96, -0.04, 0, 0.02, 1.05, 0, 0, 0, 1 });
        var truth = Phantom.Centred(lin, new[] { 5.0, -8, 0 }, Centre2);
        var (_, err) = Register2D(truth, v => 1 - v * v, new AffineOptions { ExcludeOutsideSamples = true });
        Assert.True(err < 0.1, $"mean displacement error {err} px");
    }

    [Fact]
    public void MovingMask_ExcludesCorruptedRegion_AndRecovers()
    {
        // A third of the moving image is corrupted by strong noise (e.g. a coil artefact); the mask leaves it out.
        var lin = Phantom.Mul(Phantom.RotZ(6), new[] { 1.04, 0, 0, 0, 0.97, 0, 0, 0, 1 });
        var truth = Phantom.Centred(lin, new[] { 4.0, -3, 0 }, Centre2);
        var ph = Phantom2();
        var st = ph.Sample(Grid2, Matrix4.Identity);
        var data = ph.Sample(Grid2, truth).ToArray();
        var mask = new float[data.Length];
        var rng = new Random(3);
        for (int j = 0; j < 128; j++)
            for (int i = 0; i < 128; i++)
            {
                bool bad = i >= 86;
                if (bad) data[Grid2.Index(i, j, 0)] = (float)(3 * rng.NextDouble());
                mask[Grid2.Index(i, j, 0)] = bad ? 0 : 1;
            }
        var moving = Image.FromVoxels(Grid2, data);
        var masked = AffineRegistration.Register(st, moving, new AffineOptions { MovingMask = Image.FromVoxels(Grid2, mask) });
        double em = Phantom.MeanDisplacementError(Grid2, masked.Affine, truth);
        _out.WriteLine($"masked {em:F4} px");
        Assert.True(em < 0.1, $"masked error {em} px");
    }

    [Fact]
    public void Masks_DecideWhichSamplesCount()
    {
        // Same grid, identity map: a static voxel counts when its static mask value and the moving mask at the same
        // voxel are both nonzero, so the count is the overlap of the two masks (computed here by hand).
        var ph = Phantom2();
        var img = ph.Sample(Grid2, Matrix4.Identity);
        var sMask = new float[Grid2.VoxelCount];
        var mMask = new float[Grid2.VoxelCount];
        int overlap = 0;
        for (int j = 0; j < 128; j++)
            for (int i = 0; i < 128; i++)
            {
                bool s = (i - 60) * (i - 60) + (j - 70) * (j - 70) < 40 * 40, m = j > 50;
                sMask[Grid2.Index(i, j, 0)] = s ? 1 : 0;
                mMask[Grid2.Index(i, j, 0)] = m ? 2 : 0;
                if (s && m) overlap++;
            }
        var level = RegPS.Engine.Registration.Affine.AffinePyramid.Build(img, img, Image.FromVoxels(Grid2, sMask), Image.FromVoxels(Grid2, mMask), 32, 1, 0, null, 1, 0);
        var moving = mMask.Select(v => v != 0 ? (byte)1 : (byte)0).ToArray();
        var metric = new RegPS.Engine.Metrics.MattesMutualInformation(32, level.Static, level.Moving, Grid2, level.MovingMin, level.MovingMax, moving, 0);
        double mi = metric.Evaluate(Grid2.WorldToGrid, new[] { 63.5, 63.5, 0 }, new double[12], true);
        Assert.Equal(overlap, metric.LastCount);
        Assert.True(mi > 1, $"self-MI {mi}");
    }

    [Fact]
    public void StaticMask_RestrictsSamplesAndStillRecovers()
    {
        var truth = Phantom.Centred(Phantom.RotZ(-5), new[] { 3.0, 6, 0 }, Centre2);
        var ph = Phantom2();
        var st = ph.Sample(Grid2, Matrix4.Identity);
        var mv = ph.Sample(Grid2, truth);
        // Only the left 60% of the static image is used.
        var mask = new float[Grid2.VoxelCount];
        for (int j = 0; j < 128; j++) for (int i = 0; i < 77; i++) mask[Grid2.Index(i, j, 0)] = 1;
        var map = AffineRegistration.Register(st, mv, new AffineOptions
        {
            Stages = new[] { TransformType.Rigid },
            StaticMask = Image.FromVoxels(Grid2, mask),
        });
        double err = Phantom.MeanDisplacementError(Grid2, map.Affine, truth);
        _out.WriteLine($"static-masked rigid error {err:F4} px");
        Assert.True(err < 0.1, $"error {err} px");
    }

    [Fact]
    public void SingleAffineStage_FromIdentity_ReproducesTheTutorialCall()
    {
        // DIPY tutorial: affreg.optimize(static, moving, AffineTransform2D(), params0=None) with no centre-of-mass step.
        var lin = Phantom.Mul(Phantom.RotZ(4), new[] { 1.03, 0.02, 0, 0, 0.98, 0, 0, 0, 1 });
        var truth = Phantom.Centred(lin, new[] { 5.0, 4, 0 }, Centre2);
        var (map, err) = Register2D(truth, null, new AffineOptions { Stages = new[] { TransformType.Affine }, Initialization = AffineInitialization.Identity });
        Assert.True(err < 0.1, $"error {err} px");
        Assert.Equal(new[] { "affine" }, map.Stages);
        Assert.Equal(4, map.IterationsPerLevel.Length); // one stage runs every level of the default's 4
    }

    [Fact]
    public void InitialMatrix_FromAPreviousMap_ContinuesFromIt()
    {
        var truth = Phantom.Centred(Phantom.RotZ(25), new[] { 20.0, -15, 0 }, Centre2);
        var ph = Phantom2();
        var st = ph.Sample(Grid2, Matrix4.Identity);
        var mv = ph.Sample(Grid2, truth);
        // A previous, rough result (2 degrees and 2 px off) seeds a short rigid refinement at full resolution only.
        var rough = Phantom.Centred(Phantom.RotZ(23), new[] { 22.0, -13, 0 }, Centre2);
        var previous = new AffineMap(rough, Grid2, Grid2);
        var map = AffineRegistration.Register(st, mv, new AffineOptions
        {
            Initialization = AffineInitialization.Matrix,
            InitialMatrix = previous.Affine,
            Stages = new[] { TransformType.Rigid },
            Factors = new[] { 2, 1 }, Sigmas = new[] { 1.0, 0 }, LevelIterations = new[] { 200, 100 },
        });
        double before = Phantom.MeanDisplacementError(Grid2, rough, truth), after = Phantom.MeanDisplacementError(Grid2, map.Affine, truth);
        _out.WriteLine($"before {before:F3} px, after {after:F4} px");
        Assert.True(after < 0.1, $"error {after} px");
        Assert.Equal(new[] { "initial_matrix", "rigid" }, map.Stages);
    }

    [Fact]
    public void GeometricCentersInitialization_AndCenterOfMassRotationCentre_AreReported()
    {
        var truth = Phantom.Centred(Phantom.RotZ(8), new[] { 9.0, 4, 0 }, Centre2);
        var ph = Phantom2();
        var st = ph.Sample(Grid2, Matrix4.Identity);
        var mv = ph.Sample(Grid2, truth);
        var map = AffineRegistration.Register(st, mv, new AffineOptions
        {
            Initialization = AffineInitialization.GeometricCenters,
            Center = RotationCenter.CenterOfMass,
            Stages = new[] { TransformType.Translation, TransformType.Rigid },
        });
        // The centre of mass is computed here independently of the engine.
        double sw = 0, sx = 0, sy = 0;
        for (int j = 0; j < 128; j++) for (int i = 0; i < 128; i++) { double v = st[i, j]; sw += v; sx += v * i; sy += v * j; }
        Assert.Equal(sx / sw, map.Center[0], 6);
        Assert.Equal(sy / sw, map.Center[1], 6);
        Assert.Equal("geometric_centers", map.Stages[0]);
        double err = Phantom.MeanDisplacementError(Grid2, map.Affine, truth);
        Assert.True(err < 0.1, $"error {err} px");
    }
}
