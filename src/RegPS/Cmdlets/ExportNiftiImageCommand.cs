using System.Management.Automation;
using RegPS.Engine.Images;
using RegPS.Engine.IO;

namespace RegPS.Cmdlets;

/// <summary>Writes an image as .nii or .nii.gz.</summary>
[Cmdlet(VerbsData.Export, "NiftiImage", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportNiftiImageCommand : WriterCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public Image Image { get; set; } = null!;


    /// <summary>The data type on disk: Float32 (default), the source's type (Source), or any NIfTI numeric type.</summary>
    [Parameter]
    public NiftiDataType DataType { get; set; } = NiftiDataType.Float32;

    protected override void ProcessRecord()
    {
        var target = TargetPath;
        WriteOutputFile(target, $"Write NIfTI image ({Image.Grid}, {DataType})",
            (full, overwrite) => NiftiWriter.Write(Image, full, DataType, overwrite, StopToken));
    }
}
