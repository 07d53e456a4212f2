using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS.Cmdlets;

/// <summary>
/// Diffeomorphic registration by symmetric normalisation (SyN) with local cross-correlation, DIPY's
/// SymmetricDiffeomorphicRegistration(CCMetric). Returns a DiffeomorphicMap.
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

    [Parameter]
    public SynMetric Metric { get; set; } = SynMetric.CC;

    [Parameter]
    [ValidateRange(1, 32)]
    public int Radius { get; set; } = 4;

    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double SigmaDiff { get; set; } = 2;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public int[]? LevelIterations { get; set; }

    [Parameter]
    [ValidateRange(0.001, 10.0)]
    public double StepLength { get; set; } = 0.25;

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
        var defaults = new SynOptions();
        var options = defaults with
        {
            Metric = Metric,
            Radius = Radius,
            SigmaDiff = SigmaDiff,
            LevelIterations = LevelIterations ?? defaults.LevelIterations,
            StepLength = StepLength,
            MaxDegreeOfParallelism = MaxDegreeOfParallelism,
        };
        Register("SynRegistrationFailed", (progress, token) => SynRegistration.Register(Static, Moving, prealign, options, progress, token));
    }
}
