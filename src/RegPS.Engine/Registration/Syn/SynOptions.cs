namespace RegPS.Engine.Registration;

/// <summary>The similarity a SyN registration optimises.</summary>
public enum SynMetric
{
    /// <summary>Local normalised cross-correlation (DIPY's CCMetric); works across contrasts with a monotone relation.</summary>
    CC,
    /// <summary>Sum of squared differences with demons steps (DIPY's SSDMetric); same-contrast images only.</summary>
    SSD,
}

/// <summary>How each iteration's update is scaled before it is composed into the map.</summary>
public enum SynStepScaling
{
    /// <summary>
    /// DIPY's rule: every update is rescaled so that its longest voxel moves StepLength voxels, however small the
    /// update is. Near alignment the steps keep that length, and the map oscillates around the optimum (measured: the
    /// error alternates by up to 0.03 mm from one iteration to the next at 2x2x3 mm).
    /// </summary>
    EachIteration,
    /// <summary>
    /// RegPS's rule: each update is divided by the largest voxel norm of any update so far on this pyramid level
    /// (the current one included), so the largest update of the level moves StepLength voxels and later, smaller updates
    /// stay proportionally smaller: the steps shrink as the images come into alignment and the map settles.
    /// </summary>
    LevelMaximum,
}

/// <summary>
/// When the forward half-maps are inverted again. Each SyN iteration composes the steps into the two forward half-maps,
/// inverts them (their backward half-maps), then inverts those back into the forward ones, so that each pair is
/// consistent in both directions.
/// </summary>
public enum SynReinversion
{
    /// <summary>DIPY's algorithm: the forward half-maps are inverted back after every iteration on every level.</summary>
    EveryIteration,
    /// <summary>
    /// As DIPY's on the coarser levels; on the image level (level 0, when it is optimised) only after its last
    /// iteration. Measured on three known warps of a 2x2x3 mm T1: the same accuracy (0.1251 against 0.1247 mm), for a
    /// quarter less inversion work on that level (2 of its 4 inversions in 3 of its 4 iterations). Not for 2D images:
    /// there the image level runs 40 iterations, and skipping measured less accurate (0.0495 against 0.0454 mm).
    /// </summary>
    ImageLevelLast,
}

/// <summary>How many fixed-point iterations each field inversion of an iteration takes.</summary>
public enum SynInversionSteps
{
    /// <summary>DIPY's: every inversion iterates until the mean residual is at most InvTol voxels (or the largest at most
    /// 0.1 voxel), at most InvIter times.</summary>
    UntilConverged,
    /// <summary>
    /// As DIPY's on the coarsest level; on every finer level each inversion takes one fixed-point iteration from the
    /// previous iteration's inverse (its warm start), so the inverses track the maps as they change instead of being
    /// converged anew each time. The coarsest level starts from the identity with the largest steps and keeps
    /// UntilConverged (one step there measured less accurate at 1 mm: 0.0343 against 0.0304 mm). Measured: nine known
    /// 2x2x3 mm warps 0.1292 against 0.1301 mm, Colin27 at 1 mm 0.0306 against 0.0304, the final maps' round trip
    /// unchanged (0.0018 voxel), for a third less inversion work on the 2 mm level and half on the image level. 2D images
    /// keep UntilConverged (measured 0.0459 against 0.0454 mm on two slices).
    /// </summary>
    OneOnFinerLevels,
}

/// <summary>How the CC metric's steps are smoothed (the Gaussian of sigma <see cref="SynOptions.SigmaDiff"/> voxels).</summary>
public enum SynStepSmoothing
{
    /// <summary>DIPY's: scipy's gaussian_filter at every voxel.</summary>
    Exact,
    /// <summary>
    /// 3D volumes, sigma of at least 3 voxels: the same Gaussian computed exactly on every second slice and every second
    /// row, and interpolated between them along y, then z (the cubic through the 4 nearest coarse rows), for a third of
    /// the filter's arithmetic. At sigma 5 it is within 0.1-0.3% (rms) of the full filter; measured on nine known warps
    /// of a 2x2x3 mm T1: 0.1301 against 0.1300 mm, Colin27 at 1 mm 0.0304 both ways. 2D images and smaller sigmas are
    /// smoothed exactly (the SSD metric's steps too).
    /// </summary>
    Interpolated,
}

/// <summary>Named sets of SyN settings.</summary>
public enum SynPreset
{
    /// <summary>
    /// RegPS's default, chosen by measurement on real T1 images warped by known smooth fields (README, "SyN against
    /// elastix's B-spline"): CC radius 2 (a 5-voxel window, as ANTs' current defaults), steps smoothed with sigma 5
    /// voxels, updates scaled by the largest update of the level (<see cref="SynStepScaling.LevelMaximum"/>), fixed
    /// iteration counts per level with no early stop (3D 20, 20, 4; 2D 30, 40, 40), and in 3D no optimisation on levels
    /// whose voxels are all finer than 1.5 mm (at 1 mm the map found at 2 mm is expanded to the image grid, as ANTs'
    /// antsRegistrationSyNQuick leaves its finest level at 0 iterations). 2D images keep DIPY's radius 4, which
    /// measured better there and on large deformations. In 3D the image level inverts its forward half-maps back only
    /// after its last iteration (<see cref="SynReinversion.ImageLevelLast"/>). Everything else is DIPY's algorithm.
    /// </summary>
    Default,
    /// <summary>
    /// DIPY 1.6's SymmetricDiffeomorphicRegistration(CCMetric(dim)) at its defaults: its algorithm, schedule and
    /// convergence test (tested against DIPY itself: the same iteration count, fields a few hundredths of a pixel apart).
    /// </summary>
    Dipy,
}

/// <summary>
/// Settings of <see cref="SynRegistration"/>. `new SynOptions()` is RegPS's default (<see cref="SynPreset.Default"/>);
/// <see cref="Dipy"/> is DIPY's SymmetricDiffeomorphicRegistration(CCMetric(dim)) at its defaults.
/// </summary>
public sealed record SynOptions
{
    /// <summary>
    /// DIPY 1.6's defaults: radius 4, sigma_diff 2 (kernel truncated at 4 sigma, scipy's), every update rescaled to the
    /// step length, at most 100, 100, 25 iterations with its convergence test, every level optimised.
    /// </summary>
    public static SynOptions Dipy => new()
    {
        Preset = SynPreset.Dipy, Radius = 4, SigmaDiff = 2, LevelIterations = new[] { 100, 100, 25 },
        StopAtConvergence = true, MinimumOptimizedSpacing = 0, StepScaling = SynStepScaling.EachIteration,
        SmoothingTruncate = 4, ImageLevelInterpolation = Resampling.Interpolation.Linear,
        Reinversion = SynReinversion.EveryIteration, StepSmoothing = SynStepSmoothing.Exact,
        InversionSteps = SynInversionSteps.UntilConverged,
    };

    /// <summary>The settings of a preset (RegPS's default or DIPY's).</summary>
    public static SynOptions For(SynPreset preset) => preset == SynPreset.Dipy ? Dipy : new SynOptions();

    /// <summary>The preset these settings started from (for the record; the properties below are what runs).</summary>
    public SynPreset Preset { get; init; } = SynPreset.Default;
    public SynMetric Metric { get; init; } = SynMetric.CC;
    /// <summary>
    /// CC window radius in voxels (window 2r+1 per axis). Null (RegPS's default) takes <see cref="RadiusFor"/>: 2 in 3D,
    /// 4 in 2D. DIPY: 4.
    /// </summary>
    public int? Radius { get; init; }
    /// <summary>Gaussian sigma (voxels) applied to each CC step. RegPS 5, DIPY 2.</summary>
    public double SigmaDiff { get; init; } = 5;
    /// <summary>
    /// Iterations per pyramid level, coarsest first; the count sets the number of levels. Null (RegPS's default) takes
    /// <see cref="IterationsFor"/>: 20, 20, 4 in 3D and 30, 40, 40 in 2D. DIPY: 100, 100, 25 (maxima, with its early stop).
    /// </summary>
    public int[]? LevelIterations { get; init; }
    /// <summary>
    /// The update smoothing's kernel reaches round(SmoothingTruncate * SigmaDiff) voxels each side. RegPS 3 (the
    /// Gaussian's mass beyond 3 sigma is 0.3%: measured the same accuracy for 3/4 of the work), DIPY 4 (scipy's default).
    /// </summary>
    public double SmoothingTruncate { get; init; } = 3;
    /// <summary>
    /// How the CC steps are smoothed: RegPS <see cref="SynStepSmoothing.Interpolated"/> (3D, sigma at least 3 voxels:
    /// exact on every second slice and row, interpolated between them), DIPY <see cref="SynStepSmoothing.Exact"/>.
    /// </summary>
    public SynStepSmoothing StepSmoothing { get; init; } = SynStepSmoothing.Interpolated;
    /// <summary>Length in voxels of the largest update (see <see cref="StepScaling"/>); 0.25 in both presets.</summary>
    public double StepLength { get; init; } = 0.25;
    /// <summary>
    /// How updates are scaled: RegPS <see cref="SynStepScaling.LevelMaximum"/> (steps shrink as the images align),
    /// DIPY <see cref="SynStepScaling.EachIteration"/> (every update rescaled to <see cref="StepLength"/>).
    /// </summary>
    public SynStepScaling StepScaling { get; init; } = SynStepScaling.LevelMaximum;
    /// <summary>
    /// How the two images are sampled while the image level itself (level 0) is optimised: RegPS
    /// <see cref="Resampling.Interpolation.BSpline"/> (cubic B-splines: trilinear sampling blurs a point by how far it
    /// falls between voxels, which biases the fit on the finest grid; measured 0.155 -> 0.125 mm at 2x2x3 mm), DIPY
    /// <see cref="Resampling.Interpolation.Linear"/>. Coarser levels always sample trilinearly. Linear or BSpline.
    /// </summary>
    public Resampling.Interpolation ImageLevelInterpolation { get; init; } = Resampling.Interpolation.BSpline;
    /// <summary>
    /// When the forward half-maps are inverted back from the backward ones (<see cref="SynReinversion"/>). Null (RegPS's
    /// default) takes <see cref="ReinversionFor"/>: <see cref="SynReinversion.ImageLevelLast"/> in 3D,
    /// <see cref="SynReinversion.EveryIteration"/> in 2D. DIPY: EveryIteration.
    /// </summary>
    public SynReinversion? Reinversion { get; init; }
    /// <summary>Pyramid smoothing: level L is smoothed with sigma = factor * (2^L - 1) voxels.</summary>
    public double SsSigmaFactor { get; init; } = 0.2;
    /// <summary>
    /// DIPY's early stop: a level ends before its iteration count when the slope of the fitted energy profile is at
    /// most <see cref="OptTol"/>. RegPS false (every level runs its count: measured more accurate, since the test
    /// ends the coarse levels early), DIPY true.
    /// </summary>
    public bool StopAtConvergence { get; init; }
    /// <summary>
    /// 3D only: pyramid levels whose voxels are finer than this many mm along every axis are not optimised; the map
    /// of the finest optimised level is composed there and expanded to the image grid. 0 optimises every level.
    /// RegPS 1.5 (a 1 mm image is optimised down to 2 mm), DIPY 0.
    /// </summary>
    public double MinimumOptimizedSpacing { get; init; } = 1.5;
    /// <summary>With <see cref="StopAtConvergence"/>: a level stops when the slope of the fitted energy profile is at most this.</summary>
    public double OptTol { get; init; } = 1e-5;
    /// <summary>Fixed-point iterations per field inversion, at most (see <see cref="InversionSteps"/>).</summary>
    public int InvIter { get; init; } = 20;
    /// <summary>
    /// How many fixed-point iterations each inversion takes (<see cref="SynInversionSteps"/>). Null (RegPS's default)
    /// takes <see cref="InversionStepsFor"/>: <see cref="SynInversionSteps.OneOnFinerLevels"/> in 3D,
    /// <see cref="SynInversionSteps.UntilConverged"/> in 2D. DIPY: UntilConverged.
    /// </summary>
    public SynInversionSteps? InversionSteps { get; init; }
    /// <summary>Inversion stops when the mean residual is at most this (voxels).</summary>
    public double InvTol { get; init; } = 1e-3;
    /// <summary>Number of recent energies the convergence test fits.</summary>
    public int EnergyWindow { get; init; } = 12;
    /// <summary>Gaussian sigma (voxels) of the SSD demons step.</summary>
    public double SsdSmooth { get; init; } = 4;
    /// <summary>Threads to use; 0 = all cores. Results are identical for any value.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>The CC window radius used for an image of this dimension (2 or 3).</summary>
    public int RadiusFor(int dimension) => Radius ?? (dimension == 2 ? 4 : 2);

    /// <summary>The re-inversion rule used for an image of this dimension (2 or 3).</summary>
    public SynReinversion ReinversionFor(int dimension) => Reinversion ?? (dimension == 2 ? SynReinversion.EveryIteration : SynReinversion.ImageLevelLast);

    /// <summary>The inversion rule used for an image of this dimension (2 or 3).</summary>
    public SynInversionSteps InversionStepsFor(int dimension) => InversionSteps ?? (dimension == 2 ? SynInversionSteps.UntilConverged : SynInversionSteps.OneOnFinerLevels);

    /// <summary>The iteration counts per level (coarsest first) used for an image of this dimension (2 or 3).</summary>
    public int[] IterationsFor(int dimension) => LevelIterations ?? (dimension == 2 ? new[] { 30, 40, 40 } : new[] { 20, 20, 4 });

    internal void Validate()
    {
        if (LevelIterations is not null && (LevelIterations.Length == 0 || LevelIterations.Any(n => n < 0)))
            throw new ArgumentException("LevelIterations needs at least one level and no negative counts.");
        if (Radius is < 1) throw new ArgumentException("Radius must be at least 1 voxel.");
        if (!(SigmaDiff >= 0) || !(SsdSmooth >= 0)) throw new ArgumentException("SigmaDiff and SsdSmooth must be zero or positive.");
        if (!(StepLength > 0)) throw new ArgumentException("StepLength must be positive.");
        if (ImageLevelInterpolation is not (Resampling.Interpolation.Linear or Resampling.Interpolation.BSpline))
            throw new ArgumentException("ImageLevelInterpolation must be Linear or BSpline.");
        if (!Enum.IsDefined(StepScaling)) throw new ArgumentException("StepScaling must be EachIteration or LevelMaximum.");
        if (InversionSteps is { } isx && !Enum.IsDefined(isx)) throw new ArgumentException("InversionSteps must be UntilConverged or OneOnFinerLevels.");
        if (!Enum.IsDefined(StepSmoothing)) throw new ArgumentException("StepSmoothing must be Exact or Interpolated.");
        if (Reinversion is { } ri && !Enum.IsDefined(ri)) throw new ArgumentException("Reinversion must be EveryIteration or ImageLevelLast.");
        if (!(SmoothingTruncate >= 1) || double.IsPositiveInfinity(SmoothingTruncate)) throw new ArgumentException("SmoothingTruncate must be at least 1 (sigmas).");
        if (!(SsSigmaFactor >= 0)) throw new ArgumentException("SsSigmaFactor must be zero or positive.");
        if (InvIter < 0 || !(InvTol >= 0) || !(OptTol >= 0)) throw new ArgumentException("InvIter, InvTol and OptTol must not be negative.");
        if (!(MinimumOptimizedSpacing >= 0) || double.IsPositiveInfinity(MinimumOptimizedSpacing)) throw new ArgumentException("MinimumOptimizedSpacing must be zero (optimise every level) or a positive number of mm.");
        if (EnergyWindow < 3) throw new ArgumentException("EnergyWindow must be at least 3 (a quadratic is fitted).");
    }
}
