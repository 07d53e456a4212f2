using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;
using RegPS.Engine.Transforms;

namespace RegPS.Cmdlets;

/// <summary>
/// Loads a saved registration result or any transform file other tools write: a RegPS .json manifest (AffineMap or
/// DiffeomorphicMap); antsRegistration's 0GenericAffine.mat, 1Warp.nii.gz and 1InverseWarp.nii.gz; ITK text (.txt,
/// .tfm) and HDF5 (.h5, e.g. fMRIPrep's _xfm.h5) files. Files other than manifests come back as a TransformChain,
/// ready for Invoke-RegTransform; an affine file with -Static comes back as an AffineMap on those grids.
/// </summary>
[Cmdlet(VerbsData.Import, "RegTransform", DefaultParameterSetName = "Path")]
[OutputType(typeof(AffineMap), typeof(DiffeomorphicMap), typeof(TransformChain))]
public sealed class ImportRegTransformCommand : ReaderCmdlet
{
    /// <summary>For an affine file: the static (fixed) image whose grid is the map's domain; the result is then an AffineMap.</summary>
    [Parameter]
    [Alias("Fixed", "Reference")]
    public Image? Static { get; set; }

    /// <summary>For an affine file with -Static: the moving image whose grid is the map's codomain (default: the static grid).</summary>
    [Parameter]
    public Image? Moving { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var file in InputFiles())
        {
            try
            {
                if (TransformFile.IsManifest(file))
                {
                    WriteObject(MapFile.Load(file, StopToken));
                    continue;
                }
                var chain = TransformFile.Load(file, StopToken);
                if (Static is not null)
                {
                    if (chain.Steps is not [AffineStep a])
                        throw new ArgumentException($"'{file}' holds {chain}; -Static makes an AffineMap of a file with one affine transform only.");
                    WriteObject(new AffineMap(a.Matrix, Static.Grid, (Moving ?? Static).Grid));
                    continue;
                }
                WriteObject(chain);
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteInputError(e, "TransformReadFailed", file);
            }
        }
    }
}
