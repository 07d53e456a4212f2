using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RegPS.Engine.Common;

namespace RegPS.Engine.Pipelines;

/// <summary>The derivatives dataset's dataset_description.json (BIDS 1.9.0, DatasetType "derivative").</summary>
public static class DatasetDescription
{
    public const string FileName = "dataset_description.json";
    public const string BidsVersion = "1.9.0";

    /// <summary>
    /// The description's content for RegPS <paramref name="version"/>: GeneratedBy names RegPS; with the raw dataset's
    /// root, SourceDatasets points at it and DatasetLinks defines the "raw" (and "templateflow") names the sidecars'
    /// BIDS URIs use.
    /// </summary>
    public static string Content(string version, string? rawRoot = null)
    {
        var json = new JsonObject
        {
            ["Name"] = "RegPS",
            ["BIDSVersion"] = BidsVersion,
            ["DatasetType"] = "derivative",
            ["GeneratedBy"] = new JsonArray(new JsonObject
            {
                ["Name"] = "RegPS",
                ["Version"] = version,
                ["Description"] = "Affine (mutual information) and SyN (local cross-correlation) registration to a template space.",
            }),
        };
        var links = new JsonObject { ["templateflow"] = BidsSources.TemplateFlowUrl };
        if (rawRoot is not null)
        {
            var uri = new Uri(Path.GetFullPath(rawRoot).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar).AbsoluteUri;
            json["SourceDatasets"] = new JsonArray(new JsonObject { ["URL"] = uri });
            links["raw"] = uri;
        }
        json["DatasetLinks"] = links;
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Creates <paramref name="root"/> if needed and writes its dataset_description.json unless one is already there
    /// (another run or machine may have written it: that one is kept). Returns true when this call wrote it.
    /// </summary>
    public static bool EnsureExists(string root, string version, string? rawRoot = null)
    {
        Directory.CreateDirectory(root);
        var path = Path.Combine(root, FileName);
        if (File.Exists(path)) return false;
        try
        {
            AtomicFile.Write(path, false, s => s.Write(Encoding.UTF8.GetBytes(Content(version, rawRoot))));
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false; // written meanwhile by a concurrent run
        }
    }
}
