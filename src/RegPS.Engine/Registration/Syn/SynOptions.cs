namespace RegPS.Engine.Registration;

/// <summary>The similarity a SyN registration optimises.</summary>
public enum SynMetric
{
    /// <summary>Local normalised cross-correlation (DIPY's CCMetric); works across contrasts with a monotone relation.</summary>
    CC,
    /// <summary>Sum of squared differences with demons steps (DIPY's SSDMetric); same-contrast images only.</summary>
    SSD,
}

/// <summary>
/// Settings of <see cref="SynRegistration"/>; every default is DIPY's SymmetricDiffeomorphicRegistration(CCMetric(dim)).
/// </summary>
public sealed record SynOptions
{
    public SynMetric Metric { get; init; } = SynMetric.CC;
    /// <summary>CC window radius in voxels (window 2r+1 per axis).</summary>
    public int Radius { get; init; } = 4;
    /// <summary>Gaussian sigma (voxels) applied to each CC step.</summary>
    public double SigmaDiff { get; init; } = 2;
    /// <summary>Maximum iterations per pyramid level, coarsest first; the count sets the number of levels.</summary>
    public int[] LevelIterations { get; init; } = { 100, 100, 25 };
    /// <summary>Length of each update in voxels (the step is first normalised to 1 voxel at most).</summary>
    public double StepLength { get; init; } = 0.25;
    /// <summary>Pyramid smoothing: level L is smoothed with sigma = factor * (2^L - 1) voxels.</summary>
    public double SsSigmaFactor { get; init; } = 0.2;
    /// <summary>A level stops when the slope of the fitted energy profile is at most this.</summary>
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

    internal void Validate()
    {
        if (LevelIterations is null || LevelIterations.Length == 0 || LevelIterations.Any(n => n < 0))
            throw new ArgumentException("LevelIterations needs at least one level and no negative counts.");
        if (Radius < 1) throw new ArgumentException("Radius must be at least 1 voxel.");
        if (!(SigmaDiff >= 0) || !(SsdSmooth >= 0)) throw new ArgumentException("SigmaDiff and SsdSmooth must be zero or positive.");
        if (!(StepLength > 0)) throw new ArgumentException("StepLength must be positive.");
        if (!(SsSigmaFactor >= 0)) throw new ArgumentException("SsSigmaFactor must be zero or positive.");
        if (InvIter < 0 || !(InvTol >= 0) || !(OptTol >= 0)) throw new ArgumentException("InvIter, InvTol and OptTol must not be negative.");
        if (EnergyWindow < 3) throw new ArgumentException("EnergyWindow must be at least 3 (a quadratic is fitted).");
    }
}
