using System.Management.Automation;
using RegPS.Engine.Registration;
using RegPS.Rendering;

namespace RegPS.Cmdlets;

/// <summary>Draws a motion-correction result's translations, rotations and framewise displacement over time as a PNG.</summary>
[Cmdlet(VerbsData.Export, "MotionPlot", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(FileInfo))]
public sealed class ExportMotionPlotCommand : WriterCmdlet
{
    /// <summary>The result of Register-ImageSeries.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public MotionCorrectionResult InputObject { get; set; } = null!;

    /// <summary>The framewise-displacement threshold drawn across the FD panel, in mm (default 0.5).</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double Threshold { get; set; } = 0.5;

    /// <summary>Width of the picture in pixels.</summary>
    [Parameter]
    [ValidateRange(200, 16384)]
    public int Width { get; set; } = 900;

    /// <summary>Height of the picture in pixels.</summary>
    [Parameter]
    [ValidateRange(150, 16384)]
    public int Height { get; set; } = 600;

    /// <summary>A title above the plot; by default the series' file name.</summary>
    [Parameter]
    public string? Title { get; set; }

    protected override void ProcessRecord()
    {
        var options = new MotionPlotOptions
        {
            Width = Width,
            Height = Height,
            Threshold = Threshold,
            RepetitionTime = double.IsFinite(InputObject.RepetitionTime) ? InputObject.RepetitionTime : 0,
            Title = Title ?? InputObject.FileName,
        };
        WriteOutputFile(TargetPath, $"Write motion plot ({Width}x{Height} PNG, {InputObject.Volumes} volumes)",
            (full, overwrite) => MotionPlot.WritePng(InputObject.Parameters, full, options, overwrite, StopToken));
    }
}
