using System.Management.Automation;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;

namespace RegPS.Cmdlets;

/// <summary>
/// Saves a registration result: a .json manifest with ANTs-convention parts (affine .mat, forward and inverse ITK warps),
/// or for an affine map alone an ITK text (.txt/.tfm), ANTs binary (.mat) or plain RAS matrix (other extensions) file.
/// </summary>
[Cmdlet(VerbsData.Export, "RegTransform", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportRegTransformCommand : WriterCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public object Map { get; set; } = null!;


    protected override void ProcessRecord()
    {
        var target = TargetPath;
        var map = Map is PSObject p ? p.BaseObject : Map;
        bool manifest = target.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        IReadOnlyList<string> written = Array.Empty<string>();
        switch (map)
        {
            case DiffeomorphicMap d when manifest:
                WriteOutputFile(target, "Save diffeomorphic map (manifest, affine, forward and inverse warps)", (full, ow) => written = MapFile.Save(d, full, ow, StopToken), false);
                break;
            case AffineMap a when manifest:
                WriteOutputFile(target, "Save affine map (manifest and affine)", (full, ow) => written = MapFile.Save(a, full, ow), false);
                break;
            case AffineMap a:
                WriteOutputFile(target, $"Save affine map as {AffineFile.FormatFromPath(target)}", (full, ow) =>
                {
                    AffineFile.Write(full, a.Affine, a.Domain.Dimension, null, ow);
                    written = new[] { full };
                }, false);
                break;
            case DiffeomorphicMap:
                WriteError(new ErrorRecord(new ArgumentException($"A diffeomorphic map is saved as a .json manifest with its parts; '{target}' does not end in .json."),
                    "ManifestNeeded", ErrorCategory.InvalidArgument, target));
                return;
            default:
                WriteError(new ErrorRecord(new ArgumentException($"-Map takes an AffineMap or a DiffeomorphicMap; got {map?.GetType().Name ?? "nothing"}."),
                    "InvalidMap", ErrorCategory.InvalidArgument, map));
                return;
        }
        foreach (var f in written) WriteObject(new FileInfo(f));
    }
}
