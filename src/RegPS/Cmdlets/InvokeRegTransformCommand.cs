using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.Resampling;
using RegPS.Engine.TransformFiles;

namespace RegPS.Cmdlets;

/// <summary>
/// Applies a registration result (in memory, or saved with Export-RegTransform) to any image: forward (moving onto the
/// static grid) or -Inverse (static onto the moving grid), linear or nearest-neighbour (labels).
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "RegTransform", DefaultParameterSetName = "Map")]
[OutputType(typeof(Image))]
public sealed class InvokeRegTransformCommand : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public Image Image { get; set; } = null!;

    /// <summary>An AffineMap or DiffeomorphicMap.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Map")]
    public object Map { get; set; } = null!;

    /// <summary>A saved map (the .json written by Export-RegTransform).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Path")]
    [Alias("TransformPath")]
    public string Path { get; set; } = "";

    [Parameter]
    public Interpolation Interpolation { get; set; } = Interpolation.Linear;

    [Parameter]
    public SwitchParameter Inverse { get; set; }

    [Parameter]
    [ValidateRange(0, 1024)]
    public int MaxDegreeOfParallelism { get; set; }

    private object? _loaded;

    protected override void BeginProcessing()
    {
        if (ParameterSetName != "Path") return;
        string full = Path;
        try
        {
            full = GetResolvedProviderPathFromPSPath(Path, out _).FirstOrDefault() ?? Path;
            _loaded = MapFile.Load(full, StopToken);
        }
        catch (ItemNotFoundException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "TransformNotFound", ErrorCategory.ObjectNotFound, Path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            ThrowTerminatingError(new ErrorRecord(e, "TransformReadFailed", ErrorCategory.InvalidData, full));
        }
    }

    protected override void ProcessRecord()
    {
        try
        {
            WriteObject(MapApplier.Apply(_loaded ?? Map, Image, Interpolation, Inverse, MaxDegreeOfParallelism));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteInputError(e, "TransformFailed", Image);
        }
    }
}
