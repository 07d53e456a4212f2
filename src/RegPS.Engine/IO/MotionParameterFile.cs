using System.Globalization;
using System.Text;
using System.Text.Json;
using RegPS.Engine.Common;
using RegPS.Engine.Registration;

namespace RegPS.Engine.IO;

/// <summary>The text formats motion parameters are written in.</summary>
public enum MotionFileFormat
{
    /// <summary>
    /// BIDS/fMRIPrep confounds (desc-confounds_timeseries.tsv): a header row trans_x trans_y trans_z rot_x rot_y rot_z
    /// framewise_displacement, tab-separated, mm and radians, the first volume's FD "n/a"; plus a JSON sidecar.
    /// </summary>
    Bids,
    /// <summary>FSL MCFLIRT .par: no header, rot_x rot_y rot_z (radians) then trans_x trans_y trans_z (mm), space-separated.</summary>
    Fsl,
    /// <summary>SPM rp_*.txt: no header, trans x y z (mm) then pitch roll yaw (rotations about x, y, z, radians).</summary>
    Spm,
}

/// <summary>
/// Writes per-volume motion (<see cref="MotionParameters"/>: the volume's motion relative to the reference, see
/// <see cref="MotionCorrection"/>) as BIDS confounds TSV + JSON, FSL .par or SPM rp_*.txt. The three carry the same
/// numbers in their own column order; every file goes through <see cref="AtomicFile"/>. Numbers use the invariant
/// culture with 10 significant digits.
/// </summary>
public static class MotionParameterFile
{
    public static readonly string[] BidsColumns = { "trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "framewise_displacement" };

    /// <summary>The format an extension implies: .tsv -> Bids, .par -> Fsl, .txt -> Spm; null otherwise.</summary>
    public static MotionFileFormat? FormatFromPath(string path)
    {
        var name = Path.GetFileName(path).ToLowerInvariant();
        if (name.EndsWith(".tsv", StringComparison.Ordinal)) return MotionFileFormat.Bids;
        if (name.EndsWith(".par", StringComparison.Ordinal)) return MotionFileFormat.Fsl;
        if (name.EndsWith(".txt", StringComparison.Ordinal)) return MotionFileFormat.Spm;
        return null;
    }

    /// <summary>The JSON sidecar beside a BIDS TSV: the same name with .json instead of .tsv.</summary>
    public static string SidecarPath(string tsvPath) =>
        tsvPath.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) ? tsvPath[..^4] + ".json" : tsvPath + ".json";

    /// <summary>The text of one file in <paramref name="format"/> (the TSV for Bids).</summary>
    public static string Format(IReadOnlyList<MotionParameters> parameters, MotionFileFormat format)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var sb = new StringBuilder();
        if (format == MotionFileFormat.Bids) sb.Append(string.Join('\t', BidsColumns)).Append('\n');
        foreach (var p in parameters)
        {
            double[] row = format switch
            {
                MotionFileFormat.Bids => new[] { p.TransX, p.TransY, p.TransZ, p.RotX, p.RotY, p.RotZ, p.FramewiseDisplacement },
                MotionFileFormat.Fsl => new[] { p.RotX, p.RotY, p.RotZ, p.TransX, p.TransY, p.TransZ },
                MotionFileFormat.Spm => new[] { p.TransX, p.TransY, p.TransZ, p.RotX, p.RotY, p.RotZ },
                _ => throw new ArgumentOutOfRangeException(nameof(format)),
            };
            sb.Append(string.Join(format == MotionFileFormat.Bids ? "\t" : "  ", row.Select(Number))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The BIDS sidecar: a description and units for every column (BIDS "Columns description" for TSV files).</summary>
    public static string Sidecar(MotionCorrectionResult? result)
    {
        var o = new Dictionary<string, object>();
        string rel = "relative to the reference (" + (result?.ReferenceDescription ?? "the motion-correction reference") + ")";
        foreach (var axis in new[] { "x", "y", "z" })
            o[$"trans_{axis}"] = new Dictionary<string, string>
            {
                ["Description"] = $"Translation of the head along the world {axis} axis (RAS), {rel}, of the reference's centre.",
                ["Units"] = "mm",
            };
        foreach (var axis in new[] { "x", "y", "z" })
            o[$"rot_{axis}"] = new Dictionary<string, string>
            {
                ["Description"] = $"Rotation about the world {axis} axis through the reference's centre, {rel}; R = Rx Ry Rz.",
                ["Units"] = "rad",
            };
        o["framewise_displacement"] = new Dictionary<string, string>
        {
            ["Description"] = "Framewise displacement (Power et al. 2012): sum of absolute differences of the six parameters from the previous volume, rotations as arc length on a 50 mm sphere; n/a for the first volume.",
            ["Units"] = "mm",
        };
        if (result is not null)
        {
            o["Software"] = "RegPS Register-ImageSeries";
            o["Transform"] = result.Transform.ToString();
            o["Passes"] = result.Passes;
            o["Reference"] = result.ReferenceDescription;
            if (result.Source.SourcePath is { } src) o["Source"] = src;
        }
        return JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes one file (for Bids only the TSV; see <see cref="WriteSidecar"/>).</summary>
    public static void Write(IReadOnlyList<MotionParameters> parameters, string path, MotionFileFormat format, bool overwrite = false, CancellationToken ct = default)
    {
        var text = Encoding.UTF8.GetBytes(Format(parameters, format));
        AtomicFile.Write(path, overwrite, s => s.Write(text), ct);
    }

    /// <summary>Writes the BIDS JSON sidecar for the TSV at <paramref name="path"/>.</summary>
    public static void WriteSidecar(MotionCorrectionResult? result, string path, bool overwrite = false, CancellationToken ct = default)
    {
        var text = Encoding.UTF8.GetBytes(Sidecar(result) + "\n");
        AtomicFile.Write(path, overwrite, s => s.Write(text), ct);
    }

    private static string Number(double v) => double.IsNaN(v) ? "n/a" : v.ToString("G10", CultureInfo.InvariantCulture);
}
