using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;

namespace RegPS;

/// <summary>
/// Base of the registration cmdlets: -Static, -Moving (from the pipeline) and -MaxDegreeOfParallelism, and one engine
/// run per moving image whose failure is a non-terminating error for that image only.
/// </summary>
public abstract class RegistrationCmdlet : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Fixed", "Reference")]
    public Image Static { get; set; } = null!;

    /// <summary>From the pipeline: an image, or a result that carries its moving image (a map's Moving property).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public Image Moving { get; set; } = null!;

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    /// <summary>Runs <paramref name="register"/> on a worker with progress, writes its result, or reports <paramref name="errorId"/>.</summary>
    protected void Register<T>(string errorId, Func<IProgress<RegistrationProgress>, CancellationToken, T> register)
    {
        // The engine would silently use the first volume of a 4D image; say so instead and point to the right tools.
        foreach (var (image, role) in new[] { (Moving, "moving"), (Static, "static") })
        {
            if (image.Volumes <= 1) continue;
            string name = Engine.Registration.InputChecks.Describe(image, role);
            string pick = image.SourcePath is { } p ? $"Get-NiftiImage -LiteralPath '{p}' -Volume 0" : "Get-NiftiImage -Volume <index>";
            WriteError(new ErrorRecord(new ArgumentException(
                    $"{char.ToUpperInvariant(name[0])}{name[1..]} is a 4D series of {image.Volumes} volumes; {MyInvocation.MyCommand.Name} registers one 3D volume. "
                    + $"Pick a volume ({pick}), or correct motion across the series with Register-ImageSeries."),
                role == "moving" ? "MovingImageIs4D" : "StaticImageIs4D", ErrorCategory.InvalidArgument, image));
            return;
        }
        try
        {
            var result = RunEngine($"{MyInvocation.MyCommand.Name} {Moving.FileName}".Trim(), register);
            WriteObject(result is null ? null : ResultSources.Attach(result, Static, Moving));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, errorId, Moving);
        }
    }
}
