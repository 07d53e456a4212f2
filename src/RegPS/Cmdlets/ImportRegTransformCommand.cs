using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;

namespace RegPS.Cmdlets;

/// <summary>
/// Loads a saved registration result: a .json manifest (AffineMap or DiffeomorphicMap), or an affine file written by
/// RegPS, ANTs, ITK or any tool that writes ITK transforms (then -Static and -Moving give the two grids).
/// </summary>
[Cmdlet(VerbsData.Import, "RegTransform", DefaultParameterSetName = "Path")]
[OutputType(typeof(AffineMap), typeof(DiffeomorphicMap))]
public sealed class ImportRegTransformCommand : ReaderCmdlet
{
    /// <summary>For a bare affine file: the static (fixed) image whose grid is the map's domain.</summary>
    [Parameter]
    [Alias("Fixed", "Reference")]
    public Image? Static { get; set; }

    /// <summary>For a bare affine file: the moving image whose grid is the map's codomain (default: the static grid).</summary>
    [Parameter]
    public Image? Moving { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var file in InputFiles())
        {
            try
            {
                if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                {
                    WriteObject(MapFile.Load(file, StopToken));
                    continue;
                }
                if (Static is null)
                    throw new ArgumentException($"'{file}' holds only a matrix; pass -Static (and -Moving) so the map knows its grids.");
                var m = AffineFile.Read(file, out _);
                WriteObject(new AffineMap(m, Static.Grid, (Moving ?? Static).Grid));
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteInputError(e, "TransformReadFailed", file);
            }
        }
    }
}
