using RegPS.Engine.Images;
using RegPS.Engine.Resampling;

namespace RegPS.Engine.Registration;

/// <summary>
/// A linear map between two images' worlds with DIPY's meaning: <see cref="Affine"/> takes a static-world point (mm)
/// to the moving-world point that should land on it, so resampling the moving image through it aligns it to the static.
/// Carries the registration's result information when it came from <see cref="AffineRegistration.Register"/>.
/// </summary>
public sealed class AffineMap
{
    /// <summary>A map loaded from a file or built by hand (no registration information).</summary>
    public AffineMap(Matrix4 affine, Grid domain, Grid codomain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(codomain);
        if (!affine.IsFinite || !affine.TryInverse(out _)) throw new ArgumentException("The affine matrix must be finite and invertible.", nameof(affine));
        Affine = affine;
        Domain = domain;
        Codomain = codomain;
    }

    internal AffineMap(Matrix4 affine, Grid domain, Grid codomain, AffineOptions options, double metric, IReadOnlyList<string> stages,
        int[] iterationsPerLevel, IReadOnlyList<double> metricTrace, TimeSpan elapsed, int? seed, double[] center)
        : this(affine, domain, codomain)
    {
        Options = options;
        Metric = metric;
        Stages = stages;
        IterationsPerLevel = iterationsPerLevel;
        MetricTrace = metricTrace;
        Elapsed = elapsed;
        Seed = seed;
        Center = center;
    }

    /// <summary>Static world (mm) -> moving world (mm).</summary>
    public Matrix4 Affine { get; }

    /// <summary>The static (reference) grid: where <see cref="Transform"/> writes.</summary>
    public Grid Domain { get; }

    /// <summary>The moving grid: where <see cref="TransformInverse"/> writes.</summary>
    public Grid Codomain { get; }

    /// <summary>Final mutual information (nats, positive) at the finest level of the last stage; NaN for a loaded map.</summary>
    public double Metric { get; } = double.NaN;

    /// <summary>The stages run, e.g. "center_of_mass", "translation", "rigid", "affine".</summary>
    public IReadOnlyList<string> Stages { get; } = Array.Empty<string>();

    /// <summary>Function evaluations used per optimised stage and level, stage-major, coarsest level first
    /// (e.g. 9 entries for 3 stages x 3 levels).</summary>
    public int[] IterationsPerLevel { get; } = Array.Empty<int>();

    /// <summary>Mutual information (positive) after every function evaluation, in order, over all stages and levels.</summary>
    public IReadOnlyList<double> MetricTrace { get; } = Array.Empty<double>();

    public TimeSpan Elapsed { get; }

    /// <summary>The sparse sampler's seed; null for dense sampling or a loaded map.</summary>
    public int? Seed { get; }

    /// <summary>The centre of rotation used (static world mm, 3 values).</summary>
    public double[] Center { get; } = Array.Empty<double>();

    /// <summary>The options the registration ran with; null for a loaded map.</summary>
    public AffineOptions? Options { get; }

    /// <summary>Resamples the moving image onto the static grid (DIPY's transform: zero-padded boundary).</summary>
    public Image Transform(Image moving, Interpolation interpolation = Interpolation.Linear, int maxDegree = 0)
    {
        ArgumentNullException.ThrowIfNull(moving);
        return Resampler.Resample(moving, Domain, Affine, interpolation, Boundary.ZeroPadded, maxDegree);
    }

    /// <summary>Resamples the static image onto the moving grid through the inverse map.</summary>
    public Image TransformInverse(Image @static, Interpolation interpolation = Interpolation.Linear, int maxDegree = 0)
    {
        ArgumentNullException.ThrowIfNull(@static);
        return Resampler.Resample(@static, Codomain, Affine.Inverse(), interpolation, Boundary.ZeroPadded, maxDegree);
    }

    /// <summary>Translation, rotation (degrees), scales and shears of <see cref="Affine"/>; see <see cref="AffineDecomposition"/>.</summary>
    public AffineDecomposition Decompose() => AffineDecomposition.FromMatrix(Affine);

    /// <summary>The map in the other direction (moving world -> static world), without result information.</summary>
    public AffineMap Inverse() => new(Affine.Inverse(), Codomain, Domain);

    public override string ToString() => $"AffineMap {Affine}";
}
