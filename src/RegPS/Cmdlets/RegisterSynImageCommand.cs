using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Cmdlets;

/// <summary>
/// Diffeomorphic registration by symmetric normalisation (SyN) with local cross-correlation, DIPY's
/// SymmetricDiffeomorphicRegistration(CCMetric) algorithm with RegPS's measured defaults (-Preset Dipy: DIPY's own).
/// Returns a DiffeomorphicMap.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "SynImage")]
[OutputType(typeof(DiffeomorphicMap))]
public sealed class RegisterSynImageCommand : RegistrationCmdlet
{
    /// <summary>
    /// An affine result (Register-AffineImage) or a 4x4 matrix composed in before the warp. Binds from the pipeline by
    /// property name (an AffineMap's Affine), so `Register-AffineImage ... | Register-SynImage -Static $s` takes the
    /// affine result as -Prealign and its moving image (the map's Moving property) as -Moving.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Affine")]
    public object? Prealign { get; set; }

    /// <summary>
    /// The settings to start from: Default (RegPS's: radius 2 in 3D and 4 in 2D, sigma_diff 5, steps scaled by the level's largest
    /// update, fixed iterations, 3D levels finer than 1.5 mm not optimised) or Dipy (DIPY 1.6's
    /// SymmetricDiffeomorphicRegistration(CCMetric) defaults, to reproduce its numbers). -Radius, -SigmaDiff,
    /// -LevelIterations, -StepLength, -StepScaling and -MinimumOptimizedSpacing change single settings on top of it.
    /// </summary>
    [Parameter]
    public SynPreset Preset { get; set; } = SynPreset.Default;

    [Parameter]
    public SynMetric Metric { get; set; } = SynMetric.CC;

    [Parameter]
    [ValidateRange(1, 32)]
    public int? Radius { get; set; }

    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double? SigmaDiff { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public int[]? LevelIterations { get; set; }

    [Parameter]
    [ValidateRange(0.001, 10.0)]
    public double? StepLength { get; set; }

    /// <summary>
    /// How each update is scaled: LevelMaximum (default: by the largest update so far on the level, so steps shrink as
    /// the images align) or EachIteration (DIPY: every update rescaled to -StepLength voxels at its longest).
    /// </summary>
    [Parameter]
    public SynStepScaling? StepScaling { get; set; }

    /// <summary>
    /// How the images are sampled while the image level itself is optimised: BSpline (default: cubic B-splines, more
    /// accurate on the finest grid) or Linear (DIPY).
    /// </summary>
    [Parameter]
    [ValidateSet("Linear", "BSpline")]
    public string? ImageLevelInterpolation { get; set; }

    /// <summary>
    /// 3D: pyramid levels whose voxels are finer than this many mm along every axis are not optimised (default 1.5: a
    /// 1 mm image is optimised down to its 2 mm level); 0 optimises every level (DIPY's preset).
    /// </summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double? MinimumOptimizedSpacing { get; set; }

    protected override void ProcessRecord()
    {
        Matrix4? prealign;
        try
        {
            prealign = Prealign is null ? null : RegisterAffineImageCommand.ParseInitial(Prealign).Item2
                ?? throw new ArgumentException("-Prealign takes an AffineMap (from Register-AffineImage), a Matrix4 or a 4x4 array.");
        }
        catch (ArgumentException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidPrealign", ErrorCategory.InvalidArgument, Prealign));
            return;
        }
        var defaults = SynOptions.For(Preset);
        var options = defaults with
        {
            Metric = Metric,
            Radius = Radius ?? defaults.Radius,
            SigmaDiff = SigmaDiff ?? defaults.SigmaDiff,
            LevelIterations = LevelIterations ?? defaults.LevelIterations,
            StepLength = StepLength ?? defaults.StepLength,
            StepScaling = StepScaling ?? defaults.StepScaling,
            ImageLevelInterpolation = ImageLevelInterpolation is null ? defaults.ImageLevelInterpolation
                : Enum.Parse<RegPS.Engine.Resampling.Interpolation>(ImageLevelInterpolation, ignoreCase: true),
            MinimumOptimizedSpacing = MinimumOptimizedSpacing ?? defaults.MinimumOptimizedSpacing,
            MaxDegreeOfParallelism = MaxDegreeOfParallelism,
        };
        Register("SynRegistrationFailed", (progress, token) => SynRegistration.Register(Static, Moving, prealign, options, progress, token));
    }
}
