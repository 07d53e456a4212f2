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
public sealed class RegisterSynImageCommand : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Fixed", "Reference")]
    public Image Static { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    public Image Moving { get; set; } = null!;

    /// <summary>An affine result (Register-AffineImage) or a 4x4 matrix composed in before the warp.</summary>
    [Parameter]
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

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

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
        try
        {
            var map = RunEngine($"Register-SynImage {Moving.FileName}".Trim(),
                (progress, token) => SynRegistration.Register(Static, Moving, prealign, options, progress, token));
            WriteObject(map);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "SynRegistrationFailed", Moving);
        }
    }
}
