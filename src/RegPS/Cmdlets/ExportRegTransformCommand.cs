using System.Management.Automation;
using RegPS.Engine.Registration;
using RegPS.Engine.TransformFiles;
using RegPS.Engine.Transforms;

namespace RegPS.Cmdlets;

/// <summary>
/// Saves a registration result or a transform chain. The extension picks the format and an unknown extension is an
/// error: .h5 = ITK HDF5 composite (affine and warp in one file, what antsRegistration and fMRIPrep write; -Inverse
/// writes the inverse composite); .json = RegPS manifest with ANTs-convention parts; .txt/.tfm = ITK text, .mat = ANTs
/// binary, .ras = plain RAS matrix (an affine alone); .nii/.nii.gz = one displacement field.
/// </summary>
[Cmdlet(VerbsData.Export, "RegTransform", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportRegTransformCommand : WriterCmdlet
{
    /// <summary>An AffineMap, a DiffeomorphicMap or a TransformChain (Import-RegTransform).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public object Map { get; set; } = null!;

    /// <summary>Write the transform in the other direction (for .h5 and the single-file formats; not for .json).</summary>
    [Parameter]
    public SwitchParameter Inverse { get; set; }

    protected override void ProcessRecord()
    {
        var target = TargetPath;
        var map = Remoting.DeserializingConverter.Unwrap(Map);
        if (map is not (AffineMap or DiffeomorphicMap or TransformChain))
        {
            WriteError(new ErrorRecord(new ArgumentException($"-Map takes an AffineMap, a DiffeomorphicMap or a TransformChain; got {map?.GetType().Name ?? "nothing"}."),
                "InvalidMap", ErrorCategory.InvalidArgument, map));
            return;
        }
        bool manifest = TransformFile.IsManifest(target);
        if (!manifest && !TransformFile.IsHdf5(target) && !TransformFile.IsNifti(target) && AffineFile.TryFormatFromPath(target) is null)
        {
            WriteError(new ErrorRecord(new ArgumentException($"'{target}': unknown transform file extension; use .h5 (ITK HDF5 composite), .json (RegPS manifest), .txt/.tfm (ITK text), .mat (ANTs), .ras (RAS matrix) or .nii.gz (one displacement field)."),
                "UnknownTransformExtension", ErrorCategory.InvalidArgument, target));
            return;
        }
        if (manifest && (map is TransformChain || Inverse))
        {
            WriteError(new ErrorRecord(new ArgumentException($"'{target}': a .json manifest holds a RegPS map as registered; save a chain or an inverse as .h5."),
                "ManifestNeeded", ErrorCategory.InvalidArgument, target));
            return;
        }
        IReadOnlyList<string> written = Array.Empty<string>();
        switch (map)
        {
            case DiffeomorphicMap d when manifest:
                WriteOutputFile(target, "Save diffeomorphic map (manifest, affine, forward and inverse warps)", (full, ow) => written = MapFile.Save(d, full, ow, StopToken), false);
                break;
            case AffineMap a when manifest:
                WriteOutputFile(target, "Save affine map (manifest and affine)", (full, ow) => written = MapFile.Save(a, full, ow), false);
                break;
            default:
                var chain = TransformChain.FromMap(map);
                if (Inverse) chain = chain.Inverse();
                WriteOutputFile(target, $"Save {chain}", (full, ow) =>
                {
                    TransformFile.Save(full, chain, ow, StopToken);
                    written = new[] { full };
                }, false);
                break;
        }
        foreach (var f in written) WriteObject(new FileInfo(f));
    }
}
