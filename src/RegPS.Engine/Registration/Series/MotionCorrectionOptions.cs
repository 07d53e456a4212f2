using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>What the first pass of <see cref="MotionCorrection.Register"/> registers every volume to.</summary>
public enum SeriesReference
{
    /// <summary>The middle volume, index Volumes / 2 (MCFLIRT's default).</summary>
    Middle,
    /// <summary>The temporal mean of the uncorrected series.</summary>
    Mean,
    /// <summary>The first volume (SPM Realign's first pass).</summary>
    First,
    /// <summary>The volume <see cref="MotionCorrectionOptions.ReferenceIndex"/>.</summary>
    Index,
    /// <summary>A separate 3D image, <see cref="MotionCorrectionOptions.ReferenceImage"/> (e.g. an SBRef), on any grid.</summary>
    Image,
}

/// <summary>The similarity measure of motion correction.</summary>
public enum SeriesMetric
{
    /// <summary>
    /// Least squares between the volume and the reference with a fitted intensity gain and offset (volumes of one run
    /// share their contrast), solved by inverse-compositional Gauss-Newton on data prepared once per reference (SPM
    /// Realign's criterion). The default: fast and as accurate as mutual information on same-contrast volumes.
    /// </summary>
    LeastSquares,
    /// <summary>Mutual information with the affine engine (DIPY's register_series measure), <see cref="MotionCorrectionOptions.Registration"/>'s settings.</summary>
    MutualInformation,
}

/// <summary>
/// Options of <see cref="MotionCorrection.Register"/>: the transform family, the first reference, the number of passes
/// and the per-volume registration. The defaults follow MCFLIRT and SPM Realign: rigid, the middle volume as the first
/// reference, then a second pass to the mean of the corrected series.
/// </summary>
public sealed record MotionCorrectionOptions
{
    /// <summary>Translation, Rigid (default) or Affine.</summary>
    public TransformType Transform { get; init; } = TransformType.Rigid;

    /// <summary>The similarity measure: least squares (default) or mutual information.</summary>
    public SeriesMetric Metric { get; init; } = SeriesMetric.LeastSquares;

    /// <summary>
    /// Least squares only: the Gaussian sigma (mm) applied to the reference and to every volume before they are compared
    /// (a wider basin and less noise; SPM Realign smooths by 5 mm FWHM, a sigma of 2.1 mm).
    /// </summary>
    public double SmoothingSigma { get; init; } = 2;

    /// <summary>
    /// Least squares only: at most this many reference voxels are compared per iteration (0 = all): the voxels whose
    /// smoothed gradient is not negligible, thinned evenly in index order.
    /// </summary>
    public int SampleCount { get; init; } = 0;

    /// <summary>The first pass's reference.</summary>
    public SeriesReference Reference { get; init; } = SeriesReference.Middle;

    /// <summary>The volume used when <see cref="Reference"/> is <see cref="SeriesReference.Index"/> (0-based).</summary>
    public int ReferenceIndex { get; init; }

    /// <summary>The image used when <see cref="Reference"/> is <see cref="SeriesReference.Image"/>; a 3D image.</summary>
    public Image? ReferenceImage { get; init; }

    /// <summary>
    /// 1: every volume to the first reference. 2 (default): then every volume again, starting from its first-pass
    /// result, to the mean of the corrected series (which is in the first reference's frame). Each further pass
    /// registers to the mean of the previous pass's corrected series.
    /// </summary>
    public int Passes { get; init; } = 2;

    /// <summary>Optional mask on the reference's grid (the series' grid unless <see cref="ReferenceImage"/> is used): only its nonzero voxels are sampled.</summary>
    public Image? Mask { get; init; }

    /// <summary>Volumes registered at once; 0 = all cores. Each volume's registration runs on one thread, so results do not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>
    /// The per-volume registration (mutual information, the affine engine). <see cref="AffineOptions.Stages"/>,
    /// <see cref="AffineOptions.Initialization"/>, <see cref="AffineOptions.InitialMatrix"/>, <see cref="AffineOptions.StaticMask"/>
    /// and <see cref="AffineOptions.MaxDegreeOfParallelism"/> are set per volume and ignored here.
    /// </summary>
    public AffineOptions Registration { get; init; } = SeriesDefaults;

    /// <summary>Radius (mm) of the sphere on which framewise displacement turns rotations into distances (Power et al. 2012: 50).</summary>
    public double FramewiseRadius { get; init; } = 50;

    /// <summary>Radius (mm) of the sphere, about the reference's centre, over which RMS displacement is averaged (MCFLIRT: 80).</summary>
    public double RmsRadius { get; init; } = 80;

    /// <summary>
    /// The affine engine tuned for BOLD-sized volumes of the same contrast (measured on a 4 mm series of the bundled
    /// T1 with known motion, see MotionCorrectionTests): two levels (factor 2 with sigma 1 voxel, then full resolution),
    /// 4,000 and 40,000 off-grid samples (20,000 left a mean FD error of 0.023 mm, 40,000 0.020 mm), at most 200 and
    /// 100 evaluations, and samples that fall outside the moving volume left out (ITK's rule: the field of view of a
    /// BOLD slab cuts through the head, and counting the zero padding there as intensity pulled the estimate; FD error
    /// 0.020 -> 0.018 mm). Volumes are a few millimetres apart, so the coarse level only needs to bring them close.
    /// </summary>
    public static AffineOptions SeriesDefaults { get; } = new()
    {
        Factors = new[] { 2, 1 },
        Sigmas = new double[] { 1, 0 },
        SampleCounts = new[] { 4000, 40000 },
        LevelIterations = new[] { 200, 100 },
        EdgeMargin = 1,
        Bins = 32, // measured at 32; fewer samples per volume than a T1 makes a finer histogram noisier
        ExcludeOutsideSamples = true,
    };
}
