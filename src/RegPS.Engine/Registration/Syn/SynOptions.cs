namespace RegPS.Engine.Registration;

/// <summary>The similarity a SyN registration optimises.</summary>
public enum SynMetric
{
    /// <summary>Local normalised cross-correlation (DIPY's CCMetric); works across contrasts with a monotone relation.</summary>
    CC,
    /// <summary>Sum of squared differences with demons steps (DIPY's SSDMetric); same-contrast images only.</summary>
    SSD,
}

/// <summary>Named sets of SyN settings.</summary>
public enum SynPreset
{
    /// <summary>
    /// RegPS's default, chosen by measurement on real T1 images warped by known smooth fields (README, "SyN against
    /// elastix's B-spline"): steps smoothed with sigma 4 voxels, fixed iteration counts per level with no early stop
    /// (3D 30, 20, 5; 2D 30, 40, 40), and in 3D no optimisation on levels whose voxels are all finer than
    /// 1.5 mm (at 1 mm the map found at 2 mm is expanded to the image grid, as ANTs' antsRegistrationSyNQuick leaves
    /// its finest level at 0 iterations). Everything else is DIPY's algorithm.
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
    /// <summary>DIPY 1.6's defaults: sigma_diff 2, at most 100, 100, 25 iterations with its convergence test, every level optimised.</summary>
    public static SynOptions Dipy => new()
    {
        Preset = SynPreset.Dipy, Radius = 4, SigmaDiff = 2, LevelIterations = new[] { 100, 100, 25 },
        StopAtConvergence = true, MinimumOptimizedSpacing = 0,
    };

    /// <summary>The settings of a preset (RegPS's default or DIPY's).</summary>
    public static SynOptions For(SynPreset preset) => preset == SynPreset.Dipy ? Dipy : new SynOptions();

    /// <summary>The preset these settings started from (for the record; the properties below are what runs).</summary>
    public SynPreset Preset { get; init; } = SynPreset.Default;
    public SynMetric Metric { get; init; } = SynMetric.CC;
    /// <summary>CC window radius in voxels (window 2r+1 per axis); 4 in both presets.</summary>
    public int Radius { get; init; } = 4;
    /// <summary>Gaussian sigma (voxels) applied to each CC step. RegPS 4, DIPY 2.</summary>
    public double SigmaDiff { get; init; } = 4;
    /// <summary>
    /// Iterations per pyramid level, coarsest first; the count sets the number of levels. Null (RegPS's default) takes
    /// <see cref="IterationsFor"/>: 30, 20, 5 in 3D and 30, 40, 40 in 2D. DIPY: 100, 100, 25 (maxima, with its early stop).
    /// </summary>
    public int[]? LevelIterations { get; init; }
    /// <summary>Length of each update in voxels (the step is first normalised to 1 voxel at most).</summary>
    public double StepLength { get; init; } = 0.25;
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
    /// <summary>Fixed-point iterations per field inversion.</summary>
    public int InvIter { get; init; } = 20;
    /// <summary>Inversion stops when the mean residual is at most this (voxels).</summary>
    public double InvTol { get; init; } = 1e-3;
    /// <summary>Number of recent energies the convergence test fits.</summary>
    public int EnergyWindow { get; init; } = 12;
    /// <summary>Gaussian sigma (voxels) of the SSD demons step.</summary>
    public double SsdSmooth { get; init; } = 4;
    /// <summary>Threads to use; 0 = all cores. Results are identical for any value.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>The iteration counts per level (coarsest first) used for an image of this dimension (2 or 3).</summary>
    public int[] IterationsFor(int dimension) => LevelIterations ?? (dimension == 2 ? new[] { 30, 40, 40 } : new[] { 30, 20, 5 });

    internal void Validate()
    {
        if (LevelIterations is not null && (LevelIterations.Length == 0 || LevelIterations.Any(n => n < 0)))
            throw new ArgumentException("LevelIterations needs at least one level and no negative counts.");
        if (Radius < 1) throw new ArgumentException("Radius must be at least 1 voxel.");
        if (!(SigmaDiff >= 0) || !(SsdSmooth >= 0)) throw new ArgumentException("SigmaDiff and SsdSmooth must be zero or positive.");
        if (!(StepLength > 0)) throw new ArgumentException("StepLength must be positive.");
        if (!(SsSigmaFactor >= 0)) throw new ArgumentException("SsSigmaFactor must be zero or positive.");
        if (InvIter < 0 || !(InvTol >= 0) || !(OptTol >= 0)) throw new ArgumentException("InvIter, InvTol and OptTol must not be negative.");
        if (!(MinimumOptimizedSpacing >= 0) || double.IsPositiveInfinity(MinimumOptimizedSpacing)) throw new ArgumentException("MinimumOptimizedSpacing must be zero (optimise every level) or a positive number of mm.");
        if (EnergyWindow < 3) throw new ArgumentException("EnergyWindow must be at least 3 (a quadratic is fitted).");
    }
}
