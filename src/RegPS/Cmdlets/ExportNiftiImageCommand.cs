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

    /// <summary>
    /// The data type on disk. Not given: the source's type and scaling (Source) when the voxels are still those read
    /// from a NIfTI file, float32 when they were computed. Source, Float32 or any NIfTI numeric type when given.
    /// </summary>
    [Parameter]
    public NiftiDataType DataType { get; set; } = NiftiDataType.Source;

    protected override void ProcessRecord()
    {
        var target = TargetPath;
        var type = ChooseType(out var reason);
        WriteVerbose($"{(Image.FileName.Length > 0 ? Image.FileName : "computed image")}: writing {DescribeType(type)} ({reason}).");
        WriteOutputFile(target, $"Write NIfTI image ({Image.Grid}, {DescribeType(type)})",
            (full, overwrite) => NiftiWriter.Write(Image, full, type, overwrite, StopToken));
    }

    private NiftiDataType ChooseType(out string reason)
    {
        if (MyInvocation.BoundParameters.ContainsKey(nameof(DataType)))
        {
            reason = "-DataType " + DataType;
            return DataType;
        }
        if (Image.VoxelsAreSource)
        {
            reason = $"the voxels are those read from '{Image.SourcePath}', so its type and scaling are kept; -DataType Float32 writes float32";
            return NiftiDataType.Source;
        }
        reason = Image.SourcePath is null
            ? "the image was computed, not read from a NIfTI file"
            : $"the voxels were computed from '{Image.FileName}' (resampled or warped), so its {Image.DataType} could round them; -DataType Source keeps {Image.DataType}";
        return NiftiDataType.Float32;
    }

    private string DescribeType(NiftiDataType type) =>
        type == NiftiDataType.Source ? $"{Image.DataType} (the source's type)" : type.ToString().ToLowerInvariant();
}
