using System.Text.Json;
using System.Text.Json.Nodes;
using RegPS.Engine.Common;
using RegPS.Engine.Images;
using RegPS.Engine.IO;
using RegPS.Engine.Registration;

namespace RegPS.Engine.TransformFiles;

/// <summary>
/// Saves a registration result so a later session can apply it without registering again, in files other tools read:
/// a small JSON manifest (the two grids and the file names) next to the ANTs files it names — the prealign/affine as an
/// ANTs .mat, and for a SyN result the forward and inverse displacement fields as ITK NIfTI. The parts are the same as
/// antsRegistration's output: apply with `antsApplyTransforms -r static -t stem_warp.nii.gz -t stem_affine.mat`, or the
/// inverse with `-t [stem_affine.mat,1] -t stem_inversewarp.nii.gz`. Each file is written atomically, the manifest last;
/// if any part fails, the parts already written by this call are removed.
/// </summary>
public static class MapFile
{
    private const string Kind = "RegPS transform";

    /// <summary>The companion file names for a manifest path (stem = the path without .json).</summary>
    public static (string Affine, string Warp, string InverseWarp) PartsFor(string manifestPath)
    {
        var stem = manifestPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? manifestPath[..^5] : manifestPath;
        return (stem + "_affine.mat", stem + "_warp.nii.gz", stem + "_inversewarp.nii.gz");
    }

    public static IReadOnlyList<string> Save(AffineMap map, string manifestPath, bool overwrite = false) =>
        Save(manifestPath, overwrite, map.Affine, map.Domain, map.Codomain, null, null);

    public static IReadOnlyList<string> Save(DiffeomorphicMap map, string manifestPath, bool overwrite = false, CancellationToken ct = default) =>
        Save(manifestPath, overwrite, map.Prealign, map.Domain, map.Codomain, map.Forward, map.Backward, ct);

    private static IReadOnlyList<string> Save(string manifestPath, bool overwrite, Matrix4 affine, Grid domain, Grid codomain,
        DisplacementField? forward, DisplacementField? backward, CancellationToken ct = default)
    {
        if (!manifestPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"'{manifestPath}': a saved map is named by its manifest, which ends in .json.");
        var (affinePath, warpPath, invPath) = PartsFor(manifestPath);
        var written = new List<string>();
        try
        {
            foreach (var p in forward is null ? new[] { manifestPath, affinePath } : new[] { manifestPath, affinePath, warpPath, invPath })
                if (!overwrite && File.Exists(p)) throw new IOException($"The file '{p}' already exists; pass overwrite (-Force) to replace it.");
            AffineFile.Write(affinePath, affine, domain.Dimension, AffineFileFormat.AntsMat, overwrite);
            written.Add(affinePath);
            if (forward is not null && backward is not null)
            {
                DisplacementFieldFile.Write(warpPath, forward, overwrite, ct);
                written.Add(warpPath);
                DisplacementFieldFile.Write(invPath, backward, overwrite, ct);
                written.Add(invPath);
            }
            var json = new JsonObject
            {
                ["kind"] = Kind,
                ["type"] = forward is null ? "affine" : "diffeomorphic",
                ["dimension"] = domain.Dimension,
                ["convention"] = "static (domain) world point -> moving (codomain) world point; files in ITK/ANTs LPS convention",
                ["domain"] = GridJson(domain),
                ["codomain"] = GridJson(codomain),
                ["affine"] = Path.GetFileName(affinePath),
            };
            if (forward is not null)
            {
                json["warp"] = Path.GetFileName(warpPath);
                json["inverseWarp"] = Path.GetFileName(invPath);
            }
            var text = json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
            AtomicFile.Write(manifestPath, overwrite, s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)));
            written.Add(manifestPath);
            return written;
        }
        catch
        {
            foreach (var p in written) try { File.Delete(p); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Loads a saved map: an <see cref="AffineMap"/> or a <see cref="DiffeomorphicMap"/>.</summary>
    public static object Load(string manifestPath, CancellationToken ct = default)
    {
        JsonNode? root;
        // A repeated key is refused while parsing (JsonObject would otherwise throw ArgumentException on first access).
        try { root = JsonNode.Parse(File.ReadAllText(manifestPath), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new ImageFormatException(manifestPath, "not a JSON file: " + e.Message, e); }
        if (root is not JsonObject o || Text(o["kind"]) != Kind)
            throw new ImageFormatException(manifestPath, $"not a saved RegPS transform (no \"kind\": \"{Kind}\")");
        var dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        string Part(string key) => ResolvePart(manifestPath, dir, key, o[key]);
        var domain = ReadGrid(manifestPath, o["domain"]);
        var codomain = ReadGrid(manifestPath, o["codomain"]);
        var affine = AffineFile.Read(Part("affine"), out _);
        if (Text(o["type"]) == "affine") return new AffineMap(affine, domain, codomain);
        var forward = DisplacementFieldFile.Read(Part("warp"), ct);
        var backward = DisplacementFieldFile.Read(Part("inverseWarp"), ct);
        if (!forward.Grid.SameAs(domain, 1e-4) || !backward.Grid.SameAs(domain, 1e-4))
            throw new ImageFormatException(manifestPath, "the warp files do not lie on the domain grid the manifest names");
        // The fields are put on the manifest's domain grid exactly (the NIfTI header stores it in float32).
        return new DiffeomorphicMap(affine, domain, codomain,
            new DisplacementField(domain, forward.Values.ToArray()), new DisplacementField(domain, backward.Values.ToArray()));
    }

    /// <summary>
    /// The file a manifest entry names, which must be a plain file name in the manifest's own folder: no absolute path,
    /// no folder part (so no ".."), and not a link that leads out of the folder. Anything else is refused, naming the
    /// manifest and the entry, before the target is opened, so a hostile manifest cannot make RegPS read other files.
    /// </summary>
    internal static string ResolvePart(string manifestPath, string dir, string key, JsonNode? entry)
    {
        string name = entry is JsonValue v && v.TryGetValue(out string? s) ? s
            : throw new ImageFormatException(manifestPath, entry is null ? $"missing \"{key}\"" : $"\"{key}\" must be a file name (a string)");
        ImageFormatException Refuse(string why) =>
            new(manifestPath, $"the \"{key}\" entry '{name}' {why}; a part must be a file name in the manifest's own folder");
        if (name.Length == 0 || name is "." or "..") throw Refuse("is not a file name");
        if (Path.IsPathRooted(name) || name.Contains(':')) throw Refuse("is an absolute path");
        if (name.IndexOfAny(new[] { '/', '\\' }) >= 0) throw Refuse("names a path through other folders");
        string full = Path.Combine(dir, name);
        if (!File.Exists(full)) throw Refuse(Directory.Exists(full) ? "is a folder" : "is not in the manifest's folder");
        if (new FileInfo(full).LinkTarget is not null)
        {
            var target = File.ResolveLinkTarget(full, returnFinalTarget: true);
            string realDir = Path.TrimEndingDirectorySeparator(Directory.ResolveLinkTarget(dir, true)?.FullName ?? dir);
            string? targetDir = target is null ? null : Path.GetDirectoryName(target.FullName);
            if (targetDir is null || !string.Equals(Path.TrimEndingDirectorySeparator(targetDir), realDir,
                    OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase))
                throw Refuse("is a link to a file outside the manifest's folder");
        }
        return full;
    }

    /// <summary>A JSON string's value; null for anything else (a number, an object, a missing entry).</summary>
    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static JsonObject GridJson(Grid g) => new()
    {
        ["shape"] = new JsonArray(g.Shape.Select(v => (JsonNode)v).ToArray()),
        ["gridToWorld"] = new JsonArray(g.GridToWorld.ToRows().Select(r => (JsonNode)new JsonArray(r.Select(v => (JsonNode)v).ToArray())).ToArray()),
    };

    private static Grid ReadGrid(string path, JsonNode? node)
    {
        try
        {
            var shape = node!["shape"]!.AsArray().Select(v => (int)v!).ToArray();
            var rows = node["gridToWorld"]!.AsArray().Select(r => r!.AsArray().Select(v => (double)v!).ToArray()).ToArray();
            var m = Matrix4.FromRows(rows);
            return shape.Length == 2 ? new Grid(shape[0], shape[1], 1, m, 2) : new Grid(shape[0], shape[1], shape[2], m, 3);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or ArgumentException or FormatException or IndexOutOfRangeException)
        {
            throw new ImageFormatException(path, "a grid in the manifest is malformed (needs shape and a 4x4 gridToWorld)", e);
        }
    }
}
