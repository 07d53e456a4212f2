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
/// Options of <see cref="AffineRegistration.Register"/>. The defaults are DIPY's (AffineRegistration with
/// MutualInformationMetric(32), level_iters [10000, 1000, 100], sigmas [3, 1, 0], factors [4, 2, 1], and the
/// _public.affine_registration pipeline centre of mass -> translation -> rigid -> affine).
/// <para>Same as DIPY: the Parzen joint histogram (static box kernel, moving cubic B-spline, 2 padding bins each side),
/// dense sampling with zero padding, the scale space (intensities rescaled to [0, 1], sigma in voxels, coarse static
/// grid anchored at voxel 0, moving image kept at full resolution), parameters reset to the identity at every level.
/// The metric's value equals DIPY 1.6's MutualInformationMetric to 1e-9 on the same images and matrix (tested).</para>
/// <para>Differences from DIPY, each chosen because it makes results better or reproducible:</para>
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
/// <item><b>Gradient of the moving image.</b> The exact derivative of the zero-padded trilinear interpolant, computed
/// from the same 8 voxels as the value, so the analytic MI gradient is the true gradient of the value the optimiser
/// sees; DIPY uses central differences at half a voxel.</item>
/// <item><b>Sparse sampling.</b> With <see cref="SamplingProportion"/>, every ceil(1/p)-th static voxel (x-fastest
/// order) jittered by N(0, 0.25^2) voxels, drawn from <see cref="Seed"/> (reported in the result) — DIPY's scheme with
/// a user seed instead of the hard-wired 1234 and numpy's C order. Masks are honoured in sparse mode too (DIPY ignores them).</item>
/// <item><b>Masked smoothing.</b> With a mask, each level is smoothed by normalised convolution
/// (smooth(image * mask) / smooth(mask)), so what lies outside a mask (an artefact, a lesion, another field of view)
/// does not bleed into the sampled region at the coarse levels, and voxels outside a mask are replaced by that masked
/// average, so interpolation at the mask's edge does not pick up excluded values; DIPY smooths through the mask.</item>
/// <item><b>Outside samples.</b> By default, as dense DIPY, static voxels whose sample falls outside the moving image
/// count with intensity 0; <see cref="ExcludeOutsideSamples"/> leaves them out (ITK's rule), which removes a bias when a
/// background is bright (measured: 0.105 px -> 0.055 px on an inverted-contrast 2D pair).</item>
/// <item><b>Smoothing.</b> A level whose sigma is above 0 is smoothed even at factor 1 (DIPY never smooths the
/// finest level); with the default sigmas this is the same.</item>
/// <item><b>Threads.</b> Kernels run in parallel over blocks of image lines with per-block partial histograms summed in
/// block order: the matrix is bit-identical for any <see cref="MaxDegreeOfParallelism"/>.</item>
/// </list>
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

    /// <summary>Joint-histogram bins per axis (DIPY: 32; 2 padding bins on each side).</summary>
    public int Bins { get; init; } = 32;

    /// <summary>Maximum function evaluations per pyramid level, coarsest first (DIPY's level_iters = scipy maxfun).</summary>
    public int[] LevelIterations { get; init; } = { 10000, 1000, 100 };

    /// <summary>Gaussian smoothing sigma per level in voxels, coarsest first.</summary>
    public double[] Sigmas { get; init; } = { 3, 1, 0 };

    /// <summary>Shrink factor per level, coarsest first.</summary>
    public int[] Factors { get; init; } = { 4, 2, 1 };

    /// <summary>Fraction of static voxels sampled per level (0, 1]; null = dense (every voxel, DIPY's default).</summary>
    public double? SamplingProportion { get; init; }

    /// <summary>Seed of the sparse sampler's jitter (reported in the result; unused in dense mode).</summary>
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

    /// <summary>L-BFGS memory (scipy's maxcor).</summary>
    public int HistorySize { get; init; } = 10;
}
