using RegPS.Engine.Images;

namespace RegPS.Engine.Registration;

/// <summary>The family of linear transforms a registration stage optimises.</summary>
public enum TransformType
{
    /// <summary>Translation only (2 or 3 parameters, mm).</summary>
    Translation,
    /// <summary>Rotation + translation (2D: 3 parameters, 3D: 6).</summary>
    Rigid,
    /// <summary>Rigid + one isotropic scale (2D: 4, 3D: 7).</summary>
    Similarity,
    /// <summary>Rigid + one scale per axis (2D: 5, 3D: 9); A = S R as DIPY's RigidScaling.</summary>
    RigidScaling,
    /// <summary>Full affine (2D: 6, 3D: 12).</summary>
    Affine,
}

/// <summary>Named sets of affine options.</summary>
public enum AffinePreset
{
    /// <summary>RegPS's default: off-grid random samples, a decimated pyramid, tuned stopping rules (see <see cref="AffineOptions"/>).</summary>
    Default,
    /// <summary>DIPY 1.6's AffineRegistration as in its tutorial: dense sampling, levels 10000/1000/100, sigmas 3/1/0, factors 4/2/1.</summary>
    Dipy,
}

/// <summary>Where the static image is sampled for the mutual-information histogram.</summary>
public enum AffineSampling
{
    /// <summary>Every voxel of the level's grid (DIPY's dense mode).</summary>
    Dense,
    /// <summary>Every ceil(1/p)-th voxel jittered by N(0, 0.25^2) voxels (DIPY's sparse mode; set by SamplingProportion).</summary>
    Regular,
    /// <summary>A fixed number of off-grid points per level, one per stratum of the voxels, uniformly placed inside its voxel.</summary>
    Random,
}

/// <summary>How the first stage's starting matrix is chosen.</summary>
public enum AffineInitialization
{
    /// <summary>Start from the identity: the images' headers already place them in the same world.</summary>
    Identity,
    /// <summary>Translate the static centre of mass onto the moving one (DIPY's transform_centers_of_mass).</summary>
    CentersOfMass,
    /// <summary>Translate the static geometric centre onto the moving one (DIPY's transform_geometric_centers).</summary>
    GeometricCenters,
    /// <summary>Start from <see cref="AffineOptions.InitialMatrix"/> (e.g. a previous AffineMap's Affine).</summary>
    Matrix,
}

/// <summary>The point rotations, scales and shears act about.</summary>
public enum RotationCenter
{
    /// <summary>The static image's geometric centre (the world position of voxel (n-1)/2 on each axis).</summary>
    GeometricCenter,
    /// <summary>The static image's intensity centre of mass.</summary>
    CenterOfMass,
}

/// <summary>
/// Options of <see cref="AffineRegistration.Register"/>. Two presets: <see cref="AffinePreset.Default"/> (the property
/// defaults, chosen by measurement against elastix 5 and DIPY 1.6 on real images moved by known transforms) and
/// <see cref="AffinePreset.Dipy"/> (<see cref="Dipy"/>: DIPY 1.6's AffineRegistration as its tutorial runs it).
/// Both run DIPY's chain (centres of mass, then translation, rigid and affine stages, each starting from the last) with
/// Mattes mutual information (the Parzen joint histogram: static box kernel, moving cubic B-spline, 2 padding bins each
/// side) over a 3-level pyramid, optimised by L-BFGS with an analytic gradient.
/// <para><b>The default</b> differs from DIPY in how the images are sampled and how long each level runs:</para>
/// <list type="number">
/// <item><b>Off-grid random samples.</b> Each level takes a fixed number of points (<see cref="SampleCounts"/>: 20,000 on
/// each of the three coarse levels, 150,000 on the finest), one per stratum of the static voxels in memory order, placed
/// uniformly inside its voxel, from a generator seeded by <see cref="Seed"/>: the same points every run, at any thread
/// count. Points on the grid make mutual information with interpolation bumpy at sub-voxel shifts (the interpolation
/// artefact); off-grid points average it out, as elastix's RandomCoordinate sampler does. Unlike elastix, the points
/// stay fixed during a level, so the objective is deterministic and L-BFGS converges on it instead of a stochastic
/// descent wandering.</item>
/// <item><b>Cubic B-spline interpolation</b> of both images (<see cref="CubicInterpolation"/>): a closer model of the
/// continuous image than trilinear, which blurs each image by an amount that depends on its voxel size and so biases
/// scale between images of different resolution (measured: 3D error 0.067 -> 0.038 mm at 20,000 points).</item>
/// <item><b>64 histogram bins</b> (DIPY: 32): with 150,000 points the finer histogram resolves intensities better and
/// lowered every benchmark case's error (3D 0.017 -> 0.013 mm, 1 mm 0.008 -> 0.006 mm, two contrasts 0.061 -> 0.046 px).</item>
/// <item><b>An edge margin.</b> Points are not drawn within <see cref="EdgeMargin"/> (2) voxels of the static image's
/// faces, where a field of view that cuts through the head makes the two images disagree (0.038 -> 0.026 mm).</item>
/// <item><b>A 4-level decimated pyramid.</b> Factors 8, 4, 2, 1 with sigmas 4, 2, 1, 0 voxels of the static image's
/// finest axis (scaled per axis with its shrink), as elastix's 4 levels: both images are smoothed and decimated to the
/// level's spacing, so a coarse level of a 1 mm volume costs little to build and fits in cache. The coarsest level and
/// 20,000 points there make the start robust between different subjects: a T1 registered to a template 22 degrees
/// away in pitch landed 0.6-1.3 mm (mean over the brain) from elastix's and DIPY's results over three seeds, where 3
/// levels with 5,000 coarse points landed 0.6-6 mm away depending on the seed. DIPY keeps the moving image at full
/// resolution with sigmas 3, 1, 0 over 3 levels.</item>
/// <item><b>Shorter early stages.</b> <see cref="ShortEarlyStages"/>: the translation stage runs the two coarsest levels,
/// rigid the three coarser ones, affine all four (the result depends on the last stage; the early ones only bring the
/// images close). A level also stops when an iteration moves no parameter by more than 0.001 mm
/// (<see cref="ParameterTolerance"/>) and after 1000, 1000, 500 and 250 evaluations (<see cref="LevelIterations"/>).</item>
/// </list>
/// <para>Both presets (these are not DIPY's, each chosen because it makes results better or reproducible):</para>
/// <list type="number">
/// <item><b>Centre of rotation.</b> Rotations, scales and shears act about <see cref="Center"/> (the static image's
/// geometric centre by default): y = A (x - c) + t + c. DIPY's transforms act about the world origin, which for files
/// whose origin is a volume corner couples rotation with a large translation and can end in a wrong optimum.
/// The returned matrix has DIPY's meaning (static world -> moving world) either way.</item>
/// <item><b>Composition order.</b> Each level (and stage) composes its transform T on the static side of the current
/// matrix S (x -> S(T(x)), T about the static centre); DIPY composes on the moving side (T(S(x)), about the origin).
/// For the translation -> rigid -> affine chain both describe the same family of matrices.</item>
/// <item><b>Parameter scaling.</b> The optimiser works on angles, scales and linear entries multiplied by the static
/// image's RMS radius (mm), so all parameters are in "mm moved at the image's edge"; DIPY mixes radians and mm
/// unscaled. Consequently <see cref="GradientTolerance"/> is in (-MI per mm) rather than (-MI per radian).</item>
/// <item><b>Optimizer.</b> A built-in L-BFGS (memory 10, strong-Wolfe line search) with DIPY/scipy L-BFGS-B's stopping
/// rules: <see cref="LevelIterations"/> caps <b>function evaluations</b> per level (scipy's maxfun, which is what
/// DIPY's level_iters means), and it stops when max |gradient| &lt;= <see cref="GradientTolerance"/> (1e-4) or when the
/// relative decrease (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) &lt;= <see cref="FunctionTolerance"/> (2.2e-9).</item>
/// <item><b>Gradient of the moving image.</b> The exact derivative of the interpolant, computed from the same voxels as
/// the value, so the analytic MI gradient is the true gradient of the value the optimiser sees; DIPY uses central
/// differences at half a voxel.</item>
/// <item><b>Sparse sampling.</b> With <see cref="SamplingProportion"/>, every ceil(1/p)-th static voxel (x-fastest
/// order) jittered by N(0, 0.25^2) voxels, drawn from <see cref="Seed"/> (reported in the result) — DIPY's scheme with
/// a user seed instead of the hard-wired 1234 and numpy's C order. Masks are honoured in sparse mode too (DIPY ignores them).</item>
/// <item><b>Masked smoothing.</b> With a mask, each level is smoothed by normalised convolution
/// (smooth(image * mask) / smooth(mask)), so what lies outside a mask (an artefact, a lesion, another field of view)
/// does not bleed into the sampled region at the coarse levels, and voxels outside a mask are replaced by that masked
/// average, so interpolation at the mask's edge does not pick up excluded values; DIPY smooths through the mask.</item>
/// <item><b>Outside samples.</b> By default, as dense DIPY, static points whose sample falls outside the moving image
/// count with intensity 0; <see cref="ExcludeOutsideSamples"/> leaves them out (ITK's rule), which removes a bias when a
/// background is bright (measured: 0.105 px -> 0.055 px on an inverted-contrast 2D pair).</item>
/// <item><b>Smoothing.</b> A level whose sigma is above 0 is smoothed even at factor 1 (DIPY never smooths the
/// finest level); with the default sigmas this is the same.</item>
/// <item><b>Threads.</b> Kernels run in parallel over blocks of samples or image lines with per-block partial histograms
/// summed in block order: the matrix is bit-identical for any <see cref="MaxDegreeOfParallelism"/>.</item>
/// </list>
/// <para>elastix 5 (the field's standard, benchmarked side by side) also samples random off-grid points, but draws 2,048
/// new ones every iteration of an adaptive stochastic gradient descent (500 iterations per level, 4 levels), with linear
/// interpolation and a centre-of-gravity start; RegPS reaches a smaller error in less time (README, "Accuracy and speed").</para>
/// </summary>
public sealed record AffineOptions
{
    /// <summary>Stages run in order, each starting from the previous result (default Translation, Rigid, Affine).</summary>
    public TransformType[] Stages { get; init; } = { TransformType.Translation, TransformType.Rigid, TransformType.Affine };

    /// <summary>How the first stage starts (default: centres of mass, DIPY's "center_of_mass" step).</summary>
    public AffineInitialization Initialization { get; init; } = AffineInitialization.CentersOfMass;

    /// <summary>Static-world -> moving-world starting matrix, used when <see cref="Initialization"/> is Matrix.</summary>
    public Matrix4? InitialMatrix { get; init; }

    /// <summary>Centre of rotation (default: the static image's geometric centre).</summary>
    public RotationCenter Center { get; init; } = RotationCenter.GeometricCenter;

    /// <summary>Joint-histogram bins per axis (default 64; DIPY and the Dipy preset: 32; 2 padding bins on each side).</summary>
    public int Bins { get; init; } = 64;

    /// <summary>Maximum function evaluations per pyramid level, coarsest first (DIPY's level_iters = scipy maxfun; the Dipy preset: 10000, 1000, 100).</summary>
    public int[] LevelIterations { get; init; } = { 1000, 1000, 500, 250 };

    /// <summary>
    /// Gaussian smoothing sigma per level in voxels, coarsest first (the Dipy preset: 3, 1, 0, in voxels of each axis;
    /// random sampling: in voxels of the static image's finest axis, scaled per axis with its shrink).
    /// </summary>
    public double[] Sigmas { get; init; } = { 4, 2, 1, 0 };

    /// <summary>Shrink factor per level, coarsest first (default 8, 4, 2, 1; the Dipy preset: 4, 2, 1).</summary>
    public int[] Factors { get; init; } = { 8, 4, 2, 1 };

    /// <summary>How the static image is sampled (overridden by <see cref="SamplingProportion"/>, which selects Regular).</summary>
    public AffineSampling Sampling { get; init; } = AffineSampling.Random;

    /// <summary>
    /// Random sampling: points per level, coarsest first (the last value applies to any further level). More points
    /// lower the error's noise at a proportional cost per evaluation; at most 8 points per candidate voxel are drawn.
    /// </summary>
    public int[] SampleCounts { get; init; } = { 20000, 20000, 20000, 150000 };

    /// <summary>Random sampling: interpolate both images with cubic B-splines (true) or linearly (false).</summary>
    public bool CubicInterpolation { get; init; } = true;

    /// <summary>
    /// Random sampling: voxels within this many voxels of a face of the static image's box (at each level) are not
    /// sampled; an axis too short for the margin keeps all its voxels.
    /// </summary>
    public int EdgeMargin { get; init; } = 2;

    /// <summary>
    /// DIPY 1.6's behaviour (the Dipy preset): AffineRegistration(MutualInformationMetric(32), level_iters [10000, 1000,
    /// 100], sigmas [3, 1, 0], factors [4, 2, 1]), dense sampling on the grid, trilinear interpolation, the moving image
    /// at full resolution, every stage at every level, scipy's stopping rules only. Its metric equals DIPY's to 1e-9.
    /// </summary>
    public static AffineOptions Dipy => new()
    {
        Sampling = AffineSampling.Dense,
        Bins = 32,
        LevelIterations = new[] { 10000, 1000, 100 },
        Sigmas = new double[] { 3, 1, 0 },
        Factors = new[] { 4, 2, 1 },
        ParameterTolerance = 0,
        ShortEarlyStages = false,
    };

    /// <summary>The options of a preset.</summary>
    public static AffineOptions ForPreset(AffinePreset preset) => preset switch
    {
        AffinePreset.Default => new AffineOptions(),
        AffinePreset.Dipy => Dipy,
        _ => throw new ArgumentOutOfRangeException(nameof(preset)),
    };

    /// <summary>
    /// DIPY's sparse sampling: the fraction of static voxels sampled per level, (0, 1]; when set it overrides
    /// <see cref="Sampling"/> with Regular. Null: <see cref="Sampling"/> decides.
    /// </summary>
    public double? SamplingProportion { get; init; }

    /// <summary>Seed of the random and sparse samplers (reported in the result; unused in dense mode).</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Optional mask on the static grid: only voxels with a nonzero mask value are sampled.</summary>
    public Image? StaticMask { get; init; }

    /// <summary>Optional mask on the moving grid: samples landing on a zero (nearest neighbour) are left out.</summary>
    public Image? MovingMask { get; init; }

    /// <summary>
    /// False (DIPY, dense): a static voxel whose sample falls outside the moving image still counts, with intensity 0.
    /// True (ITK's rule): such samples are left out. Leave out when the background of one image is not its darkest
    /// intensity (e.g. an inverted contrast), where the zero padding would otherwise pull the edges of the field of view.
    /// </summary>
    public bool ExcludeOutsideSamples { get; init; }

    /// <summary>Threads for the kernels; 0 = all cores. Results do not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; init; }

    /// <summary>Stop a level when max |d(-MI)/du| &lt;= this (scipy L-BFGS-B gtol; DIPY passes 1e-4). u = scaled parameters.</summary>
    public double GradientTolerance { get; init; } = 1e-4;

    /// <summary>Stop when the relative decrease of -MI in one iteration is at most this (scipy L-BFGS-B ftol).</summary>
    public double FunctionTolerance { get; init; } = 2.220446049250313e-09;

    /// <summary>
    /// Stop a level when an iteration moves no scaled parameter by more than this many mm (parameters are scaled to mm
    /// moved at the image's RMS radius); 0 turns the rule off (DIPY/scipy have no such rule).
    /// </summary>
    public double ParameterTolerance { get; init; } = 1e-3;

    /// <summary>
    /// True: the last stage runs every pyramid level, the stage before it all but the finest, the one before that all but
    /// the two finest, and so on (at least the coarsest level each); with the default chain, translation runs the
    /// coarsest level, rigid the two coarser ones, affine all three. Early stages only bring the images close; the
    /// result is the last stage's. False (DIPY): every stage runs every level.
    /// </summary>
    public bool ShortEarlyStages { get; init; } = true;

    /// <summary>L-BFGS memory (scipy's maxcor).</summary>
    public int HistorySize { get; init; } = 10;
}
